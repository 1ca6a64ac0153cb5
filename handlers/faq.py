"""Policy questions answered from the knowledge base, always with their source and date."""

from __future__ import annotations

from bot.messages import Outgoing
from handlers.context import Context, Request
from knowledge.faq import FaqEntry

LAST_FAQ = "last_faq"
# A question the knowledge base is not sure of is answered "您是不是想问：X？"; a yes within
# minutes gets X's answer, a no asks for other words. Recognised before the keyword classifier.
FAQ_OFFER = "faq_offer"
OFFER_MINUTES = 10
YES_WORDS = frozenset(
    {"是", "是的", "对", "对的", "对对", "嗯", "嗯嗯", "是这个", "就是这个", "好", "好的", "1"}
)
NO_WORDS = frozenset({"不是", "不对", "不是的", "都不是", "不是这个"})
FOLLOW_UP_STARTS = ("那", "还", "要", "需要", "得", "这个", "那个", "然后", "具体", "在哪", "去哪")


def _sources(entry: FaqEntry) -> str:
    return "；".join(source.cite() for source in entry.sources)


def _fill(ctx: Context, text: str) -> str:
    """Local details in an answer come from configuration and the roster."""
    community = ctx.config.community
    grid_name = ""
    resident = ctx.request.resident if ctx.request else None
    if resident is not None and resident.grid_id:
        from storage import roster

        grid = roster.grid(ctx.tx, resident.grid_id)
        grid_name = grid.name if grid else ""
    fields = {
        "community_name": community.name,
        "office_address": community.office_address,
        "office_phone": community.office_phone,
        "office_hours": community.office_hours,
        "grid_worker": ctx.grid_worker_name(),
        "grid_name": grid_name or community.name,
    }
    return text.format_map(fields)


def render_answer(ctx: Context, entry: FaqEntry, suggestions: tuple[str, ...] = ()) -> str:
    text = ctx.say(
        "resident.faq_answer",
        answer=_fill(ctx, entry.answer),
        sources=_sources(entry),
        checked=entry.checked.isoformat(),
        city_note=ctx.say("resident.faq_city_note") if entry.city_varies else "",
    )
    titles = [ctx.kb.faq.entries[s].title for s in suggestions if s in ctx.kb.faq.entries]
    if titles:
        text += ctx.say("resident.faq_suggestions", titles="、".join(titles))
    return text


def answer_question(req: Request, ctx: Context) -> list[Outgoing]:
    """Answer from the best FAQ entry, or say plainly that we cannot and offer a person."""
    index = ctx.kb.faq
    match = index.best_match(req.text)
    last = req.state_data.get("faq_id") if req.state == LAST_FAQ else None
    entry = index.entries.get(last) if last and _is_follow_up(req.text) else None
    if entry is not None:
        # "那要带什么材料" continues the last topic unless it clearly names another one.
        follow = index.best_match(f"{entry.title} {req.text}")
        if follow.best_id == entry.id and (
            match.faq_id in (None, entry.id) or follow.score >= match.score
        ):
            return [ctx.reply(_detail(ctx, entry))]
    if match.faq_id is None:
        text = ctx.say("resident.faq_unknown")
        offered = index.offered(match)
        if offered is not None:
            text += ctx.say("resident.faq_did_you_mean", titles=index.entries[offered].title)
            ctx.set_state(FAQ_OFFER, {"faq_id": offered})
        return [ctx.reply(text)]
    entry = index.entries[match.faq_id]
    ctx.set_state(LAST_FAQ, {"faq_id": entry.id})
    return [ctx.reply(render_answer(ctx, entry, match.suggestions))]


def offer_taken(req: Request, ctx: Context) -> list[Outgoing]:
    """A yes to "您是不是想问：X？": X's answer, if offered minutes ago and still known."""
    ctx.drop_state()
    entry = ctx.kb.faq.entries.get(str(req.state_data.get("faq_id", "")))
    if entry is None or not req.state_within(ctx.now, OFFER_MINUTES):
        return ctx.reply_key("resident.faq_offer_expired")
    ctx.set_state(LAST_FAQ, {"faq_id": entry.id})
    return [ctx.reply(render_answer(ctx, entry))]


def offer_declined(req: Request, ctx: Context) -> list[Outgoing]:
    """A no to "您是不是想问：X？": ask for other words, or a person."""
    ctx.drop_state()
    return ctx.reply_key("resident.faq_offer_declined")


def _is_follow_up(text: str) -> bool:
    return len(text) <= 20 and text.startswith(FOLLOW_UP_STARTS)


def _detail(ctx: Context, entry: FaqEntry) -> str:
    if not entry.detail:
        return ctx.say("resident.faq_no_detail")
    return ctx.say(
        "resident.faq_detail",
        title=entry.title,
        detail=_fill(ctx, entry.detail),
        sources=_sources(entry),
        checked=entry.checked.isoformat(),
    )


def more_detail(req: Request, ctx: Context) -> list[Outgoing]:
    """ "详细": the long version of the last answer."""
    faq_id = req.state_data.get("faq_id") if req.state == LAST_FAQ else None
    entry = ctx.kb.faq.entries.get(faq_id) if faq_id else None
    if entry is None:
        return ctx.reply_key("resident.faq_nothing_before")
    ctx.set_state(LAST_FAQ, {"faq_id": entry.id})
    return [ctx.reply(_detail(ctx, entry))]
