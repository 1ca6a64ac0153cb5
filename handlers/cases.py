"""A resident's own cases: list, show, cancel, rate."""

from __future__ import annotations

import re

from bot.messages import Outgoing
from handlers import routing, workflow
from handlers.context import Context, Request
from handlers.report import DRAFT_STATES
from handlers.workflow import AWAITING_RATING
from storage import cases, roster
from storage.lifecycle import OPEN, Action, Status
from storage.models import Case


def _summary(text: str, limit: int = 20) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _own_case(req: Request, ctx: Context, number: str) -> Case | None:
    case = cases.by_number(ctx.tx, number)
    if case is None or req.resident is None or not cases.follows(ctx.tx, case, req.resident.id):
        return None  # a number that is not yours looks exactly like one that does not exist
    return case


def list_my_cases(req: Request, ctx: Context) -> list[Outgoing]:
    assert req.resident is not None
    number = req.argument or (req.classification.case_number if req.classification else None)
    if number:
        return show_case(req, ctx)
    mine = cases.for_resident(ctx.tx, resident_id=req.resident.id, limit=10)
    if not mine:
        return ctx.reply_key("resident.my_cases_none")
    lines = [ctx.say("resident.my_cases_header")]
    for case in mine:
        lines.append(
            ctx.say(
                "resident.my_cases_line",
                number=case.number,
                category_name=ctx.category_name(case.category),
                status_name=ctx.status_name(case.status),
                created=ctx.local_time(case.created_at),
                summary=_summary(case.text) if _reported(req, case) else _followed(ctx),
            )
        )
    lines.append(ctx.say("resident.my_cases_footer"))
    return [ctx.reply("\n".join(lines))]


def show_case(req: Request, ctx: Context) -> list[Outgoing]:
    number = req.argument or (req.classification.case_number if req.classification else "") or ""
    case = _own_case(req, ctx, number)
    if case is None:
        return ctx.reply_key("resident.case_not_found", number=number)
    timeline = "\n".join(
        ctx.say(
            "resident.timeline_line",
            at=ctx.local_time(e.at),
            what=_event_text(ctx, e.kind, e.note),
        )
        for e in case.events
    )
    # A case the resident follows (their report of the same thing was merged into it) shows its
    # progress, not another resident's words or address.
    own = _reported(req, case)
    return ctx.reply_key(
        "resident.case_detail",
        number=case.number,
        category_name=ctx.category_name(case.category),
        status_name=ctx.status_name(case.status),
        summary=_summary(case.text, 60) if own else _followed(ctx),
        address=(case.address if own else case.building) or ctx.word("words", "no_address"),
        timeline=timeline,
    )


def _reported(req: Request, case: Case) -> bool:
    return req.resident is not None and case.resident_id == req.resident.id


def _followed(ctx: Context) -> str:
    return ctx.word("words", "followed_case")


def _event_text(ctx: Context, kind: str, note: str) -> str:
    """What residents see of an event: its kind, and the note only for progress and results."""
    text = ctx.word("event", kind)
    if kind in ("note", "resolve", "return") and note:
        return f"{text}：{note}"
    return text


def cancel_case(req: Request, ctx: Context) -> list[Outgoing]:
    """Withdraw a case before it is resolved; or drop the report being filled in."""
    assert req.resident is not None
    number = req.argument or (req.classification.case_number if req.classification else None)
    if not number:
        if req.state in DRAFT_STATES:
            ctx.drop_state()
            return ctx.reply_key("resident.report_cancelled_draft")
        open_cases = [
            c
            for c in cases.for_resident(ctx.tx, resident_id=req.resident.id)
            if c.status in OPEN and _reported(req, c)
        ]
        if not open_cases:
            return ctx.reply_key("resident.cancel_nothing")
        return ctx.reply_key("resident.cancel_which", number=open_cases[0].number)
    case = _own_case(req, ctx, number)
    if case is None or not _reported(req, case):  # a followed case is its reporter's to withdraw
        return ctx.reply_key("resident.case_not_found", number=number)
    if Status(case.status) not in OPEN:
        return ctx.reply_key(
            "resident.case_cannot_cancel",
            number=case.number,
            status_name=ctx.status_name(case.status),
        )
    workflow.move(ctx, case, Action.CANCEL, actor=f"resident:{req.resident.id}")
    return ctx.reply_key("resident.case_cancelled", number=case.number)


# 不满意, and 满意 said with a negation before it: 不太满意, 不是很满意, 不怎么满意, 很不满意.
NOT_SATISFIED = re.compile(r"不(?:太|大|是很|是太|怎么|咋|很|算|够)?满意")
BASIC = ("基本满意", "还算满意", "比较满意")
BASIC_SHORT = ("一般", "还行", "凑合")  # only as a short answer: "低保一般多久能批下来" asks
UNSOLVED = (
    "没解决", "未解决", "没有解决", "没能解决", "解决不了", "还没好", "没修好", "没弄好",
    "还是没", "还是不", "还是坏", "还在漏", "还漏", "依旧", "仍然", "没人来",
)  # fmt: skip
SOLVED = ("解决了", "修好了", "弄好了", "已经好了")
QUESTION = ("吗", "？", "?", "什么时候", "多久", "怎么", "几")  # "修好了吗" asks; it does not rate


def parse_rating(text: str) -> tuple[str, bool | None]:
    """(rating, solved) from a resident's words; rating is "" when none was given."""
    asks = any(q in text for q in QUESTION)
    if NOT_SATISFIED.search(text):
        rating = "unsatisfied"
    elif any(word in text for word in BASIC) or (
        len(text) <= 6 and not asks and any(word in text for word in BASIC_SHORT)
    ):
        rating = "basic"
    else:
        rating = "satisfied" if "满意" in text else ""
    if any(word in text for word in UNSOLVED):
        return rating or "unsatisfied", False
    said_solved = any(word in text for word in SOLVED) and not asks
    if rating:
        return rating, True if said_solved else rating != "unsatisfied"
    if "好评" in text or said_solved:
        return "satisfied", True
    if "差评" in text:
        return "unsatisfied", None
    return "", None


def rate_case(req: Request, ctx: Context) -> list[Outgoing]:
    """满意/基本满意 closes the resolved case; 不满意 or unsolved reopens it (重办)."""
    assert req.resident is not None
    resolved = cases.awaiting_rating(ctx.tx, resident_id=req.resident.id)
    rating, solved = parse_rating(req.text)
    if not resolved or not rating:
        return ctx.reply_key("resident.rate_nothing")
    # The case whose rating was asked for (the state `resolve` left), else the latest resolved.
    asked = req.state_data.get("case_id") if req.state == AWAITING_RATING else None
    case = next((c for c in resolved if c.id == asked), resolved[0])
    case.rating, case.solved = rating, solved
    actor = f"resident:{req.resident.id}"
    if rating == "unsatisfied" or solved is False:
        workflow.move(ctx, case, Action.REOPEN, actor=actor, note=req.text)
        owner = roster.worker(ctx.tx, case.assignee_id) if case.assignee_id else None
        note = routing.mask_phones(req.text)
        text = ctx.say("worker.case_reopened", number=case.number, note=note)
        ctx.drop_state()
        return [
            *ctx.reply_key("resident.rate_reopened", number=case.number),
            *workflow.to_worker(owner, text, workflow.worked_buttons(ctx, case)),
        ]
    workflow.move(ctx, case, Action.CONFIRM, actor=actor, note=rating)
    ctx.drop_state()
    return ctx.reply_key(
        "resident.rate_thanks", number=case.number, rating=ctx.word("rating", rating)
    )
