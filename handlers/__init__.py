"""What the bot does, readable in one place: ROUTES[(role, intent)] -> handler."""

from __future__ import annotations

from collections.abc import Callable

from bot.messages import Outgoing, Role
from handlers import admin, cases, faq, report, resident, worker
from handlers.context import Context, Request

Handler = Callable[[Request, Context], list[Outgoing]]

R = Role.RESIDENT
ROUTES: dict[tuple[Role, str], Handler] = {
    # the intents of CONTRACT.md
    (R, "faq"): faq.answer_question,
    (R, "report"): report.report_issue,
    (R, "progress"): cases.list_my_cases,
    (R, "rate"): cases.rate_case,
    (R, "greeting"): resident.fixed("resident.greeting"),
    (R, "thanks"): resident.fixed("resident.thanks"),
    (R, "human"): resident.fixed("resident.human"),
    (R, "subscribe"): resident.subscribe,
    (R, "unsubscribe"): resident.unsubscribe,
    (R, "register"): resident.register_address,
    (R, "cancel"): cases.cancel_case,
    (R, "other"): resident.fixed("resident.other"),
    # what channels and conversation state add
    (R, "detail"): faq.more_detail,
    (R, "faq_offer_taken"): faq.offer_taken,
    (R, "faq_offer_declined"): faq.offer_declined,
    (R, "show_case"): cases.show_case,
    (R, "address_reply"): report.continue_address,
    (R, "media"): report.attach_media,
    (R, "welcome"): resident.welcome,
    (R, "unfollow"): resident.unfollow,
    (R, "empty"): resident.fixed("resident.empty"),
    (R, "unsupported"): resident.fixed("resident.unsupported"),
    (R, "voice_unrecognized"): resident.fixed("resident.voice_unrecognized"),
    (R, "link"): resident.fixed("resident.link_received"),
    (R, "how_to_report"): resident.fixed("menu.how_to_report"),
    (R, "faq_menu"): resident.fixed("menu.faq_menu"),
    (R, "my_data"): resident.my_data,
    (R, "erase_request"): resident.erase_request,
    (R, "erase_confirm"): resident.erase_confirm,
}


# Grid workers, leaders and admins (Telegram): commands, buttons, replies to the bot's questions.
STAFF_COMMON: dict[str, Handler] = {
    "cmd:start": worker.help_staff,
    "cmd:help": worker.help_staff,
    "cmd:mycases": worker.my_cases,
    "cmd:case": worker.show_case,
    "cmd:report": worker.file_for_resident,
    "button": worker.press_button,
    "worker_reply": worker.continue_reply,
}
LEADER_ONLY: dict[str, Handler] = {
    "cmd:queue": worker.queue,
    "cmd:overdue": worker.overdue,
    "cmd:assign": worker.assign_command,
    "cmd:press": worker.press_command,
    "cmd:merge": worker.merge_command,
}
for _role in (Role.WORKER, Role.LEADER, Role.ADMIN):
    ROUTES.update({(_role, intent): h for intent, h in STAFF_COMMON.items()})
for _role in (Role.LEADER, Role.ADMIN):
    ROUTES.update({(_role, intent): h for intent, h in LEADER_ONLY.items()})
ROUTES[(Role.ADMIN, "cmd:linkcode")] = worker.make_link_code
ROUTES[(Role.ADMIN, "cmd:broadcast")] = admin.broadcast_command
ROUTES[(Role.ADMIN, "broadcast_button")] = admin.confirm_broadcast
# Somebody the bot does not know yet: only linking is possible.
ROUTES[(Role.UNKNOWN, "cmd:start")] = worker.link_account
ROUTES[(Role.UNKNOWN, "cmd:link")] = worker.link_account

FALLBACK: dict[Role, Handler] = {
    Role.RESIDENT: ROUTES[(R, "other")],
    Role.WORKER: worker.unknown_command,
    Role.LEADER: worker.unknown_command,
    Role.ADMIN: worker.unknown_command,
    Role.UNKNOWN: worker.link_account,
}


def route(role: Role, intent: str) -> Handler:
    """The handler for what this person wants; the fallback says what the bot can do."""
    return ROUTES.get((role, intent)) or FALLBACK[role]
