"""Learned lexicons and their measurement (`keywords learn` / `keywords eval`); understanding."""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import pytest

from knowledge.base import Live
from knowledge.classify import Classifier, Lexicon, load_lexicon, read_lexicon
from knowledge.evaluate import evaluate, folds, part
from knowledge.keywords import evaluate_file, learn_file
from knowledge.understand import understand
from tests.cli import bot

ROOT = Path(__file__).resolve().parents[2]

# A small, clearly separable labelled set: three labels, each with its own words.
TOPICS = {
    "水电": ["停水", "水管", "漏水", "停电", "电表"],
    "绿化": ["树木", "草坪", "修剪", "花坛", "绿化带"],
    "治安": ["小偷", "被盗", "监控", "撬锁", "可疑"],
}
FILLERS = ["小区里", "我们楼", "最近", "这几天", "麻烦看看"]


def _rows() -> list[tuple[str, str]]:
    rows = []
    for label, words in TOPICS.items():
        for i, word in enumerate(words):
            for j, filler in enumerate(FILLERS):
                other = words[(i + j + 1) % len(words)]
                rows.append((f"{filler}的{word}问题，还有{other}，请处理", label))
    return rows


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def test_learn_writes_a_reviewable_lexicon_with_evidence(tmp_path: Path) -> None:
    data = _write_csv(tmp_path / "train.csv", _rows())
    out = tmp_path / "learned.toml"
    learned = learn_file(data, text_column="text", label_column="label", out=out)
    parsed = tomllib.loads(out.read_text(encoding="utf-8"))
    by_id = {entry["id"]: entry for entry in parsed["category"]}
    assert set(by_id) == set(TOPICS)
    for label, words in TOPICS.items():
        keywords = by_id[label]["keywords"]
        weights = [k["weight"] for k in keywords]
        assert weights == sorted(weights, reverse=True)  # heaviest first, for review
        found = {k["word"] for k in keywords}
        assert found & set(words), label
        assert not found & {w for other, ws in TOPICS.items() if other != label for w in ws}
        assert "的" not in found  # stopwords never become keywords
        for k in keywords:
            assert k["in_category"] >= 2  # every keyword stands on evidence
    assert learned.messages == len(_rows())
    # The file is a lexicon the classifier reads back, and it separates the labels.
    model = Classifier(read_lexicon(out))
    assert model.categorize("楼下花坛没人修剪")[0] == "绿化"
    assert model.categorize("昨晚有小偷撬锁")[0] == "治安"


def test_the_words_of_an_address_are_never_learned(tmp_path: Path, knowledge: Live) -> None:
    # Every 水电 message comes from 3号楼 and every 绿化 one from 五栋: where, not what.
    rows = [
        (f"{'3号楼2单元' if label == '水电' else '五栋'}{text}", label)
        for text, label in _rows()
        if label != "治安"
    ]
    out = tmp_path / "learned.toml"
    learn_file(
        _write_csv(tmp_path / "t.csv", rows), text_column="text", label_column="label", out=out
    )
    words = {
        k["word"] for e in tomllib.loads(out.read_text("utf-8"))["category"] for k in e["keywords"]
    }
    assert words and not words & {"3号楼", "2单元", "五栋"}
    # The live lexicons neither: a building alone opens no case.
    found = understand(knowledge.current, "3号楼")
    assert found.intent != "report" and found.keywords == ()


def test_learn_makes_an_intent_lexicon_from_intent_labels(tmp_path: Path) -> None:
    rows = [(t, "subscribe") for t in ("我要订阅普法", "订阅普法推送", "请给我订阅普法")]
    rows += [(t, "thanks") for t in ("谢谢你们", "非常谢谢", "谢谢网格员")]
    data = _write_csv(tmp_path / "intents.csv", rows)
    out = tmp_path / "intents.toml"
    learn_file(data, text_column="text", label_column="label", out=out)
    parsed = tomllib.loads(out.read_text(encoding="utf-8"))
    assert "intent" in parsed and "category" not in parsed
    lexicon = read_lexicon(out)
    assert lexicon.intents["thanks"] and not lexicon.categories


def test_hand_written_weights_win_when_merged() -> None:
    hand = Lexicon(intents={}, categories={"repair": {"漏水": 5.0}})
    learned = Lexicon(intents={}, categories={"repair": {"漏水": 0.3, "水管": 1.2}})
    merged = hand.merged(learned)
    assert merged.categories["repair"] == {"漏水": 5.0, "水管": 1.2}


def test_evaluate_counts_like_a_classifier_report() -> None:
    gold = ["a", "a", "a", "b", "b", "c"]
    predicted = ["a", "a", "b", "b", "b", "a"]
    report = evaluate(gold, predicted, [0.9, 0.8, 0.99, 0.7, 0.6, 0.5], ["t"] * 6)
    scores = {c.label: c for c in report.per_class}
    assert scores["a"].precision == pytest.approx(2 / 3)
    assert scores["a"].recall == pytest.approx(2 / 3)
    assert scores["b"].precision == pytest.approx(2 / 3) and scores["b"].recall == 1.0
    assert scores["c"].f1 == 0.0
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.macro_f1 == pytest.approx((2 / 3 + 0.8 + 0.0) / 3)
    assert report.confusion == ((2, 1, 0), (0, 2, 0), (1, 0, 0))
    assert report.mistakes[0].confidence == 0.99  # the most confident mistake first
    assert report.to_json()["per_class"]["b"]["support"] == 2


def test_folds_are_stratified_and_stable() -> None:
    texts = [f"消息{i}" for i in range(30)]
    labels = ["x"] * 20 + ["y"] * 10
    first = folds(texts, labels, 5)
    assert first == folds(texts, labels, 5)
    for fold in range(5):
        members = [labels[i] for i in range(30) if first[i] == fold]
        assert members.count("x") == 4 and members.count("y") == 2
    with pytest.raises(ValueError):
        folds(texts, labels, 1)
    assert {part(t) for t in texts} == {"dev", "test"}
    assert all(part(t) == part(f"  {t} ") for t in texts)  # decided by the text itself


def test_cross_validation_learns_on_other_folds(tmp_path: Path) -> None:
    data = _write_csv(tmp_path / "train.csv", _rows())
    report = evaluate_file(data, text_column="text", label_column="label", k=5)
    assert report.count == len(_rows())
    assert report.accuracy > 0.9
    assert set(report.labels) == set(TOPICS)


def test_keywords_cli_eval_json(tmp_path: Path) -> None:
    data = _write_csv(tmp_path / "train.csv", _rows())
    out = tmp_path / "lexicon.toml"
    common = ["--text-column", "text", "--label-column", "label"]
    learned = bot("keywords", "learn", str(data), *common, "--out", str(out))
    assert learned.returncode == 0, learned.stderr
    evaluated = bot("keywords", "eval", str(data), *common, "--lexicon", str(out), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["accuracy"] > 0.9 and 0 < report["macro_f1"] <= 1
    assert set(report["per_class"]) == set(TOPICS)
    missing = bot(
        "keywords", "eval", str(data), "--text-column", "body", "--label-column", "label"
    )
    assert missing.returncode == 2 and "body" in missing.stderr


def test_classify_cli_says_what_the_service_understands() -> None:
    # Both are full of report words that the keywords alone take for a report (see above).
    lines = "\n".join(
        [
            "楼上装修噪音太吵，几点以后不能施工？",
            "电动车电池哪个牌子好",
            "楼道灯坏了，推荐你们派人来修",
        ]
    )
    run = bot("classify", "--json", stdin=lines)
    assert run.returncode == 0, run.stderr
    found = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(f["intent"], f["category"]) for f in found] == [
        ("faq", None),
        ("faq", None),
        ("report", "repair"),
    ]
    assert all(set(f) >= {"text", "intent", "category", "confidence", "keywords"} for f in found)


def test_the_intent_confidence_is_the_fitted_curve_of_the_margin(knowledge: Live) -> None:
    """A confidence that means something: intents.toml [confidence] maps the margin to the
    chance of being right, fitted on the development messages (right 95% of the time there, so a
    clear message is near certain); rules still compare the margin."""
    lexicon = knowledge.current.classifier.lexicon
    assert lexicon.confidence_curve is not None
    clear = knowledge.current.classifier.classify("3号楼楼道灯坏了")
    unsure = knowledge.current.classifier.classify("楼上漏水把我家天花板泡了，维修费一般是谁出？")
    assert clear.confidence > 0.95 and clear.confidence > clear.margin
    assert unsure.margin < clear.margin and unsure.confidence < clear.confidence
    assert lexicon.confidence(0.0) < 0.15 and lexicon.confidence(0.8) > 0.9
    # Without a curve (a lexicon of one's own) the margin is the confidence.
    plain = Lexicon(intents=lexicon.intents, categories=lexicon.categories)
    assert plain.confidence(0.42) == 0.42


def test_live_lexicon_loads_learned_files_and_stopwords() -> None:
    lexicon = load_lexicon()
    assert "的" in lexicon.stopwords
    assert lexicon.bias  # the learned community categories carry a bias per category
    assert "的" not in lexicon.words()


@pytest.mark.parametrize(
    ("text", "intent", "category"),
    [
        ("楼道灯坏了好几天了，晚上黑乎乎的", "report", "repair"),
        ("消防通道上停满了车", "report", "parking"),
        ("楼道里堆了好多纸箱，怕着火", "report", "fire"),
        ("2号楼楼道里堆满杂物", "report", "fire"),  # was neighbor: 堆满 alone
        ("对门的王大爷三天没见着了", "report", "elderly"),
        ("请问2026-000099这个单子是谁在跟进", "progress", None),
        ("撤销2026-000099，已经修好了", "cancel", None),
        ("取消普法订阅", "unsubscribe", None),
        ("低保怎么申请？", "faq", None),
        ("楼道灯坏了应该找物业还是找居委会？", "faq", None),
        ("楼道灯坏了，能不能派人来修一下？", "report", "repair"),
        ("你叫什么名字", "other", None),  # small talk with the bot (matching.toml small_talk)
        ("你们几点上班？", "faq", None),
    ],
)
def test_understanding(knowledge: Live, text: str, intent: str, category: str | None) -> None:
    found = understand(knowledge.current, text)
    assert (found.intent, found.category) == (intent, category)


def test_a_question_the_knowledge_base_answers_is_not_a_report(knowledge: Live) -> None:
    kb = knowledge.current
    report = understand(kb, "楼上漏水把我家天花板泡了，快派人来看看")
    assert (report.intent, report.category) == ("report", "repair")
    question = "楼上装修噪音太吵，几点以后不能施工？"
    assert kb.classifier.classify(question).intent == "report"  # full of noise words
    assert kb.faq.best_match(question).faq_id == "noise-hours"
    assert understand(kb, question).intent == "faq"
    # The same words as a report, not a question: a case.
    assert understand(kb, "楼上装修噪音太大，晚上十点还在砸墙").intent == "report"


def test_a_message_asking_what_nobody_here_answers_opens_no_case(knowledge: Live) -> None:
    kb = knowledge.current
    question = "电动车电池哪个牌子好"
    assert kb.classifier.classify(question).intent == "report"  # 电动车: a fire risk's word
    assert kb.faq.best_match(question).faq_id is None
    assert understand(kb, question).intent == "faq"  # "cannot answer, ask a person"
    assert understand(kb, "推荐个好吃的饭店").intent == "other"
    # A report that also asks for something to be done stays a report.
    found = understand(kb, "楼道灯坏了，推荐你们派人来修")
    assert (found.intent, found.category) == ("report", "repair")
