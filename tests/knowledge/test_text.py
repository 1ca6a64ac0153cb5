from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knowledge.text import Tokenizer, is_meaningful, normalize, tokenize


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


def test_a_word_added_to_keep_it_whole_keeps_its_rarity() -> None:
    tokenizer = Tokenizer(userdict=None)
    rare, common = tokenizer.information("低保"), tokenizer.information("办理")
    assert rare > common  # 低保 is rare in general Chinese, 办理 is not
    tokenizer.add_words(["低保", "办理", "飞线充电"])
    # (jieba's total count grows by what is added, hence the tolerance)
    assert tokenizer.information("低保") == pytest.approx(rare, abs=0.1)
    assert tokenizer.information("办理") == pytest.approx(common, abs=0.1)
    assert "飞线充电" in tokenizer.cut("不要飞线充电")


def test_user_dictionary_words_keep_their_rarity() -> None:
    plain, community = Tokenizer(userdict=None), Tokenizer()
    assert community.information("低保") == pytest.approx(plain.information("低保"), abs=0.1)
    assert "电瓶车" in community.cut("电瓶车别进楼")


def test_cut_makes_up_no_words() -> None:
    # jieba's HMM made "人交" of "一个人交" and "哪补" of "去哪补": words of no dictionary
    tokenizer = Tokenizer()
    for text in ("医保今年一个人交多少钱", "小区门禁卡丢了去哪补 要交钱吗", "居住证办好要等几填"):
        tokens = tokenizer.cut(text)
        assert "".join(tokens) == text.replace(" ", "")
        made_up = [t for t in tokens if len(t) > 1 and not tokenizer.known(t)]
        assert made_up == [], (text, tokens)
