"""HTTP submissions recorded in batches (services/intake/submissions.py) on the real database:
submissions that arrive together share one batch, a report that fails inside it fails alone
while the others are stored, and a key sent twice at once is one report."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake import tables as t
from services.intake.reports import ReportRejected
from services.intake.submissions import KeyReused, Outcome, SubmissionBatches, Submitted
from shared.contracts.hotline import HotlineReport
from tests.e2e.reports import hotline_report
from tests.integration.test_intake_registry import KEYS, sessions  # noqa: F401 (a module fixture)

# A well-formed village code that is no node of config/territory.yaml.
NO_SUCH_VILLAGE = "140402001999"


@pytest.fixture
def engine(sessions) -> AsyncEngine:
    """The engine behind the session factory: batches run on a Core connection, as the service's do."""
    return sessions.kw["bind"]


def submitted(body: dict, *, key: str | None = None, subject: str = "school-140402001") -> Submitted:
    raw = json.dumps(body).encode()
    return Submitted(
        report=HotlineReport.model_validate_json(raw),
        subject=subject,
        idempotency_key=key,
        digest=hashlib.sha256(raw).hexdigest(),
        trace={},
        wants_case=True,
    )


async def stored(sessions, external_ids: list[str]) -> int:
    async with sessions() as session:
        return await session.scalar(
            select(func.count()).select_from(t.reports).where(t.reports.c.external_id.in_(external_ids))
        )


async def test_a_report_that_fails_inside_a_batch_fails_alone_and_the_others_are_stored(
    sessions, engine
) -> None:
    commits = []
    batches = SubmissionBatches(engine, KEYS, after_commit=lambda: commits.append(1))
    good = [hotline_report() for _ in range(5)]
    # Not checked before it joins the batch (the API checks it first): record_reports refuses it.
    bad = hotline_report(jurisdiction=NO_SUCH_VILLAGE)
    bodies = [*good[:2], bad, *good[2:]]
    answers = await asyncio.gather(
        *(batches.record(submitted(body)) for body in bodies), return_exceptions=True
    )

    assert isinstance(answers[2], ReportRejected) and "jurisdiction" in str(answers[2])
    recorded = [a for i, a in enumerate(answers) if i != 2]
    assert all(isinstance(a, Outcome) and not a.recorded.duplicate for a in recorded), answers
    assert all(a.case_jurisdiction == good[0]["jurisdiction"] for a in recorded)
    assert await stored(sessions, [b["external_id"] for b in good]) == len(good)
    assert await stored(sessions, [bad["external_id"]]) == 0
    assert commits, "the relay is woken after a commit"


async def test_one_key_sent_twice_at_once_is_one_report_and_reused_for_another_is_refused(
    sessions, engine
) -> None:
    batches = SubmissionBatches(engine, KEYS, after_commit=lambda: None)
    body, other = hotline_report(), hotline_report()
    key = f"k-{uuid.uuid4().hex}"
    first, again, reused = await asyncio.gather(
        batches.record(submitted(body, key=key)),
        batches.record(submitted(body, key=key)),
        batches.record(submitted(other, key=key)),
        return_exceptions=True,
    )

    assert isinstance(first, Outcome) and isinstance(again, Outcome), (first, again)
    assert again.recorded.report_id == first.recorded.report_id
    assert (first.recorded.duplicate, again.recorded.duplicate) == (False, True)
    assert isinstance(reused, KeyReused)
    assert await stored(sessions, [body["external_id"], other["external_id"]]) == 1


async def test_the_same_key_of_another_caller_is_another_report(engine) -> None:
    batches = SubmissionBatches(engine, KEYS, after_commit=lambda: None)
    key = f"k-{uuid.uuid4().hex}"
    mine, theirs = await asyncio.gather(
        batches.record(submitted(hotline_report(), key=key, subject="school-140402001")),
        batches.record(submitted(hotline_report(), key=key, subject="school-140402002")),
    )

    assert mine.recorded.report_id != theirs.recorded.report_id
    assert not mine.recorded.duplicate and not theirs.recorded.duplicate
