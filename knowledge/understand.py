"""What a resident's message means: keyword classification, checked against the knowledge base.

Keywords alone cannot tell "楼上漏水把我家天花板泡了，维修费一般是谁出？" (a question the
knowledge base answers) from a report of the leak: both are full of repair words. When a message
is phrased as a question and the FAQ index answers it with confidence, it is a question, unless
it asks for something to be done ("楼道灯坏了，能不能派人来修一下？" is a report even though
the FAQ explains how to report). So is
a question that asks for nothing to be done when the keywords are not sure it is a report: the
FAQ handler then says it cannot answer and offers a person, rather than opening a case. So is
a message with an off-topic word (knowledge/matching.toml) that asks for nothing to be done.
Small talk with the bot ("你叫什么名字") is neither a question nor a report.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from knowledge.classify import Classification

if TYPE_CHECKING:
    from knowledge.base import KnowledgeBase

ANSWERABLE = frozenset({"report", "other"})  # intents a confident FAQ answer overrides
SMALL_TALK_OVERRIDES = frozenset({"faq", "report"})  # small talk is neither
CONFIDENT_REPORT = 0.5  # a question that asks for nothing is a report only above this margin
# A report phrased as a question is taken for a question only when the FAQ answers it at least
# this well: a report wrongly answered is a problem nobody is sent to, so it takes more than the
# answer threshold (config.toml faq_threshold, 0.30). Chosen on the community dev messages:
# intent accuracy is flat from 0.42 to 0.65 and falls below (0.929 at 0.30).
CONFIDENT_ANSWER = 0.42


def understand(kb: KnowledgeBase, text: str) -> Classification:
    found = kb.classifier.classify(text)
    if found.intent in SMALL_TALK_OVERRIDES and not found.request and kb.faq.is_small_talk(text):
        # "你叫什么名字" asks the bot about itself: what it can do answers that, not "this
        # question I cannot answer" (matching.toml small_talk).
        return replace(found, intent="other", category=None)
    if found.intent == "report" and not found.request and kb.faq.asks_off_topic(text):
        # "电动车电池哪个牌子好" has a report's words but asks what nobody here answers: as a
        # question it gets the FAQ's "cannot answer, ask a person"; else "not understood".
        return replace(found, intent="faq" if found.question else "other", category=None)
    if found.intent not in ANSWERABLE or not found.question or found.case_number is not None:
        return found
    asks_for_help = found.intent == "report" and found.request
    # The whole message must be answered: a report that ends in a question ("…漏水了，
    # 谁来修？") is not a question because one of its parts is.
    match = kb.faq.best_match(text, by_parts=False)
    bar = CONFIDENT_ANSWER if found.intent == "report" else 0.0
    answered = match.faq_id is not None and match.score >= bar
    if (not asks_for_help and answered) or (
        found.intent == "report" and not found.request and found.margin < CONFIDENT_REPORT
    ):
        return replace(found, intent="faq", category=None)
    return found
