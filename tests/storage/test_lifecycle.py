"""The transition table, exhaustively: every (status, action) pair is either allowed or refused."""

from __future__ import annotations

import itertools

import pytest

from storage.lifecycle import (
    OPEN,
    TERMINAL,
    TRANSITIONS,
    Action,
    Status,
    TransitionError,
    next_status,
)

EXPECTED = {
    ("new", "assign"): "assigned",
    ("new", "cancel"): "cancelled",
    ("new", "merge"): "merged",
    ("assigned", "accept"): "in_progress",
    ("assigned", "return"): "new",
    ("assigned", "reassign"): "assigned",
    ("assigned", "cancel"): "cancelled",
    ("assigned", "merge"): "merged",
    ("in_progress", "resolve"): "resolved",
    ("in_progress", "reassign"): "assigned",
    ("in_progress", "cancel"): "cancelled",
    ("resolved", "confirm"): "closed",
    ("resolved", "reopen"): "in_progress",
    ("resolved", "close"): "closed",
}


@pytest.mark.parametrize("status,action", list(itertools.product(Status, Action)))
def test_every_pair(status: Status, action: Action) -> None:
    key = (status.value, action.value)
    if key in EXPECTED:
        assert next_status(status, action) == Status(EXPECTED[key])
    else:
        with pytest.raises(TransitionError):
            next_status(status, action)


def test_terminal_statuses_have_no_way_out() -> None:
    assert not [k for k in TRANSITIONS if k[0] in TERMINAL]


def test_resolved_cannot_be_cancelled_by_the_resident() -> None:
    with pytest.raises(TransitionError):
        next_status("resolved", "cancel")
    assert Status.RESOLVED not in OPEN
