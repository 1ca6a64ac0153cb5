from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knowledge.address import Address, canonical_building, chinese_number, parse_address


@pytest.mark.parametrize(
    "text,expected",
    [
        ("我住3号楼2单元501", Address("3号楼", "2", "501")),
        ("地址是七号楼1单元302", Address("7号楼", "1", "302")),
        ("登记地址 5栋402", Address("5号楼", "", "402")),
        ("3-2-501", Address("3号楼", "2", "501")),
        ("三栋楼道灯坏了", Address("3号楼", "", "")),
        ("7幢东边", Address("7号楼", "", "")),
        ("我家在十二号楼三单元1102室", Address("12号楼", "3", "1102")),
        ("幸福里商业街12号门口", Address("幸福里商业街", "", "")),
    ],
)
def test_parse_address(text: str, expected: Address) -> None:
    assert parse_address(text, ("幸福里商业街",)) == expected


@pytest.mark.parametrize("text", ["电梯坏了", "3楼走廊", "13900001111", "2026-000123", ""])
def test_no_address(text: str) -> None:
    assert parse_address(text) is None


@pytest.mark.parametrize(
    "name,key",
    [
        ("三栋", "3号楼"),
        ("3幢", "3号楼"),
        ("3号", "3号楼"),
        ("12号楼", "12号楼"),
        ("幸福里商业街", "幸福里商业街"),
    ],
)
def test_building_aliases_share_one_key(name: str, key: str) -> None:
    assert canonical_building(name) == key


@pytest.mark.parametrize(
    "text,value",
    [("三", 3), ("十", 10), ("十二", 12), ("二十", 20), ("一百零五", 105), ("两", 2), ("x", None)],
)
def test_chinese_number(text: str, value: int | None) -> None:
    assert chinese_number(text) == value


@given(st.text(max_size=60))
def test_parse_address_is_total(text: str) -> None:
    result = parse_address(text)
    assert result is None or result.building
