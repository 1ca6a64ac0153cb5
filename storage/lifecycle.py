"""The case lifecycle of DOMAIN.md as one pure transition table."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    MERGED = "merged"


class Action(StrEnum):
    ASSIGN = "assign"  # routing or a leader puts it on a worker
    ACCEPT = "accept"  # 签收
    RETURN = "return"  # 退回, with a reason
    REASSIGN = "reassign"  # 转派
    RESOLVE = "resolve"  # 办结
    CONFIRM = "confirm"  # the resident is satisfied and says solved
    REOPEN = "reopen"  # 重办: unsatisfied or unsolved
    CLOSE = "close"  # silence after resolution
    CANCEL = "cancel"  # the resident withdraws
    MERGE = "merge"  # a duplicate joins an open case


S, A = Status, Action
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (S.NEW, A.ASSIGN): S.ASSIGNED,
    (S.NEW, A.CANCEL): S.CANCELLED,
    (S.NEW, A.MERGE): S.MERGED,
    (S.ASSIGNED, A.ACCEPT): S.IN_PROGRESS,
    (S.ASSIGNED, A.RETURN): S.NEW,
    (S.ASSIGNED, A.REASSIGN): S.ASSIGNED,
    (S.ASSIGNED, A.CANCEL): S.CANCELLED,
    (S.ASSIGNED, A.MERGE): S.MERGED,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED,
    (S.IN_PROGRESS, A.REASSIGN): S.ASSIGNED,
    (S.IN_PROGRESS, A.CANCEL): S.CANCELLED,
    (S.RESOLVED, A.CONFIRM): S.CLOSED,
    (S.RESOLVED, A.REOPEN): S.IN_PROGRESS,
    (S.RESOLVED, A.CLOSE): S.CLOSED,
}
TERMINAL = frozenset({S.CLOSED, S.CANCELLED, S.MERGED})
OPEN = frozenset({S.NEW, S.ASSIGNED, S.IN_PROGRESS})


class TransitionError(ValueError):
    def __init__(self, status: Status, action: Action) -> None:
        self.status = status
        self.action = action
        super().__init__(f"cannot {action} a case that is {status}")


def next_status(status: Status | str, action: Action | str) -> Status:
    """The status after `action`, or TransitionError when the lifecycle forbids it."""
    key = (Status(status), Action(action))
    if key not in TRANSITIONS:
        raise TransitionError(*key)
    return TRANSITIONS[key]


def allowed_actions(status: Status | str) -> list[Action]:
    return [action for (source, action) in TRANSITIONS if source == Status(status)]
