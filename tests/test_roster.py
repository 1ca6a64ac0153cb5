"""The roster file: TOML and Excel, idempotent import, building aliases, clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import roster_file
from storage import roster
from storage.store import Store
from tests.conftest import DEMO


def test_import_is_idempotent_and_reports_changes(store: Store, tmp_path: Path) -> None:
    data = roster_file.read(DEMO)
    with store.unit() as tx:
        first = roster.apply(tx, data)
    with store.unit() as tx:
        second = roster.apply(tx, data)
    assert len(first.added) > 10 and not second
    edited = DEMO.read_text(encoding="utf-8").replace('name = "李强"', 'name = "李强强"')
    path = tmp_path / "roster.toml"
    path.write_text(edited, encoding="utf-8")
    with store.unit() as tx:
        third = roster.apply(tx, roster_file.read(path))
    assert third.updated == ["worker w02"] and not third.added


@pytest.mark.parametrize("suffix", [".toml", ".xlsx"])
def test_export_then_import_round_trips(store: Store, tmp_path: Path, suffix: str) -> None:
    with store.unit() as tx:
        roster.apply(tx, roster_file.read(DEMO))
        exported = roster.export(tx)
    path = tmp_path / f"roster{suffix}"
    roster_file.write(exported, path)
    again = roster_file.read(path)
    assert again == exported
    with store.unit() as tx:
        assert not roster.apply(tx, again)


def test_building_aliases_route_to_the_same_grid(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    text = DEMO.read_text(encoding="utf-8").replace('"3号楼"', '"三栋"')
    path.write_text(text, encoding="utf-8")
    with store.unit() as tx:
        roster.apply(tx, roster_file.read(path))
        assert roster.grid_of_building(tx, "3号楼") == "g1"


def test_a_bad_roster_is_refused_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[community]]\nid = "c"\nname = "C"\n[[grid]]\nid = "g"\ncommunity = "x"\n'
        'name = "G"\nbuildings = []\n[[worker]]\nid = "w"\nname = "W"\n'
        'role = "boss"\ngrids = ["nope"]\n',
        encoding="utf-8",
    )
    with pytest.raises(roster_file.RosterFileError) as caught:
        roster_file.read(path)
    message = str(caught.value)
    assert "unknown community" in message and "role" in message and "unknown grid" in message


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("broken.toml", "not toml [[", "is not a roster file"),
        ("broken.xlsx", "not a workbook", "is not a roster file"),
        ("shapes.toml", 'worker = "w01"', "must be a list of [[worker]] tables"),
        (
            "types.toml",
            '[[community]]\nid = "c"\nname = "C"\n[[grid]]\nid = "g"\ncommunity = "c"\n'
            'name = "G"\nbuildings = "1号楼"\n[[worker]]\nid = "w"\nrole = "worker"\n'
            'grids = "g"\ntelegram_id = "abc"\non_leave = "yes"\n',
            "buildings must be a list",
        ),
    ],
)
def test_a_file_that_is_no_roster_is_refused_clearly(
    tmp_path: Path, name: str, content: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(roster_file.RosterFileError) as caught:
        roster_file.read(path)
    assert says in str(caught.value)
    if name == "types.toml":  # every problem at once, none read as something else
        message = str(caught.value)
        for part in ("name is missing", "grids must be a list", "telegram_id", "on_leave"):
            assert part in message, part
        assert "unknown grid 'g'" not in message  # "g" is not read as the letters of a list


def test_a_workbook_without_the_roster_sheets_is_refused(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "其他"
    book.save(tmp_path / "other.xlsx")
    with pytest.raises(roster_file.RosterFileError, match="needs a sheet named"):
        roster_file.read(tmp_path / "other.xlsx")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["seed", "--file", "/nonexistent/roster.toml"], "roster not loaded"),
        (["roster", "import", "/nonexistent/roster.toml"], "roster not imported"),
        (["roster", "export", "/nonexistent/dir/roster.toml"], "roster not written"),
        (["report", "weekly", "--xlsx", "/nonexistent/dir/w.xlsx"], "workbook not written"),
    ],
)
def test_a_file_that_cannot_be_read_or_written_is_one_clear_line(
    tmp_path: Path, args: list[str], says: str
) -> None:
    from tests.cli import bot

    run = bot(*args, env={"BOT_STORAGE__URL": f"sqlite:///{tmp_path / 'cli.db'}"})
    assert run.returncode == 2
    assert says in run.stderr and "Traceback" not in run.stderr
