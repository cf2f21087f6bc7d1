"""Assessment's handler tables: a report adds its evidence to the case, a request for a new
assessment brings the case back, and either is graded again by services/assessment/decide.py; in
batches through the one unit of work (shared/unit_of_work.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from services.assessment.assess import OUTBOX, PRODUCER, CaseStore, Resources
from services.assessment.decide import CaseState, regraded, with_reassessment, with_report
from shared.contracts.envelope import Envelope
from shared.contracts.events import CaseReassessmentRequested, CaseReported
from shared.unit_of_work import Decision, Handlers, Stage


def _graded(merged: CaseState, event: Envelope, res: Resources, now: datetime, cause: str) -> Decision:
    result = regraded(
        merged, res.rules, now=now, cause=cause, caused_by=str(event.event_id), new_id=res.new_id
    )
    return Decision(result.state, (result.event,), records=(result.assessment,))


def reported(state: CaseState | None, event: Envelope, res: Resources, now: datetime) -> Decision:
    return _graded(with_report(state, event.payload), event, res, now, "report")


def reassessment(state: CaseState | None, event: Envelope, res: Resources, now: datetime) -> Decision:
    return _graded(with_reassessment(state, event.payload), event, res, now, "reassessment")


REPORTS = Handlers({CaseReported: reported})
REASSESSMENTS = Handlers({CaseReassessmentRequested: reassessment})


def stage(handlers: Handlers, resources: Callable[[], Resources]) -> Stage:
    return Stage.of_service(PRODUCER, OUTBOX, handlers, CaseStore(), resources)


async def on_case_events(tx, items: Sequence[tuple[Envelope, object]], res: Resources) -> None:
    """A batch of reports and requests, in offset order, in the caller's transaction."""
    await stage(Handlers({**REPORTS.rules, **REASSESSMENTS.rules}), lambda: res)(tx, items)
