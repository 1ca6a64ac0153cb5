from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knowledge.text import is_meaningful, normalize, tokenize


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("３号楼　２单元", "3号楼 2单元"),
        ("樓道燈壞了", "楼道灯坏了"),
        ("  电梯   坏了 \n", "电梯 坏了"),
        ("ＡＢＣ电梯", "abc电梯"),
        ("电\u200b梯", "电梯"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@given(st.text(max_size=80))
def test_normalize_is_idempotent_and_total(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()


@pytest.mark.parametrize(
    "text,meaningful",
    [("", False), ("   ", False), ("😀😀", False), ("？？！", False), ("漏水", True), ("1", True)],
)
def test_is_meaningful(text: str, meaningful: bool) -> None:
    assert is_meaningful(text) is meaningful


def test_community_words_are_cut_whole() -> None:
    tokens = tokenize("网格员说楼道堆物和飞线充电都要整改，电瓶车别进楼")
    for word in ("网格员", "楼道堆物", "飞线充电", "电瓶车"):
        assert word in tokens, tokens
