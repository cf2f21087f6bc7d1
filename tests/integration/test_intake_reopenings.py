"""Intake follows casework's closures and a person's reopenings of a case on the real database
(services/intake/reports.py: close_case, reopen_case). They travel on two topics, so intake may read a
reopening before or after the closures around it: in every such order it ends where casework ended."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.intake import tables as t
from services.intake.reports import close_case, reopen_case
from tests.e2e.reports import hotline_report
from tests.integration.test_intake_registry import record, sessions  # noqa: F401 (a module fixture)

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
# Casework's own moments: a closure, a person's reopening, and (in some stories) a closure after it —
# the reopened case closed again, or merged away by a link made before casework heard of the reopening.
STORIES = {
    "reopened": ([("close", T0), ("reopen", T0 + timedelta(hours=1))], "open"),
    "reopened, then closed": (
        [
            ("close", T0),
            ("reopen", T0 + timedelta(hours=1)),
            ("close", T0 + timedelta(hours=1, microseconds=1)),
        ],
        "closed",
    ),
    "reopened twice": (
        [
            ("close", T0),
            ("reopen", T0 + timedelta(hours=1)),
            ("close", T0 + timedelta(hours=2)),
            ("reopen", T0 + timedelta(hours=3)),
        ],
        "open",
    ),
}


def _readings(events: list[tuple[str, datetime]]):
    """Every order intake may read them in: each topic's events in their own order."""
    for order in itertools.permutations(events):
        if all(
            [e for e in order if e[0] == kind] == [e for e in events if e[0] == kind]
            for kind in ("close", "reopen")
        ):
            yield order


@pytest.mark.parametrize("story", list(STORIES))
async def test_intake_ends_where_casework_ended_whatever_order_it_reads_closures_and_reopenings(
    sessions, story: str
) -> None:
    events, ends = STORIES[story]
    for order in _readings(events):
        case_id = (await record(sessions, hotline_report())).case_id
        for kind, at in order:
            async with sessions.begin() as session:
                if kind == "close":
                    await close_case(session, case_id, at)
                else:
                    await reopen_case(session, case_id, stage="plan", reopened_at=at)
        async with sessions() as session:
            case = (await session.execute(select(t.cases).where(t.cases.c.id == case_id))).one()
        assert case.state == ends, (story, order)
        assert (case.closed_at is None) == (ends == "open"), (story, order)
        if ends == "open" and order[-1][0] == "reopen":
            assert case.stage == "plan", "open again at the stage casework says"
