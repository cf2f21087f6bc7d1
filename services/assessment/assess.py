"""Assessment's shell: load the cases at hand, let services/assessment/decide.py merge new
evidence and grade, then save the states, the grade history and `case.assessed` at once."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment import tables as t
from services.assessment.decide import (
    CaseNotFound,
    CaseState,
    Regraded,
    regraded,
    union,
)
from services.assessment.grading import Override, RuleSet
from shared.contracts.envelope import Envelope
from shared.contracts.vocabulary import Indicator, Need, Stage, advance_stage
from shared.crypto import FieldCipher
from shared.db.rows import locked_by, upsert_rows
from shared.db.tables import outbox_table
from shared.notes import save_notes, written
from shared.unit_of_work import Work

__all__ = ["CaseNotFound", "Resources", "record_needs", "set_override", "history"]

PRODUCER = "assessment"
OUTBOX = outbox_table(t.metadata)


@dataclass(frozen=True)
class Resources:
    rules: RuleSet
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    new_id: Callable[[], uuid.UUID] = uuid.uuid4  # each grade's id
    cipher: FieldCipher | None = None  # seals the notes people write over HTTP (the consumers write none)


async def load_cases(session: AsyncSession, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CaseState]:
    """The cases at hand, locked, in one query. Rows are locked in case order, so two
    batches that share cases wait for each other instead of deadlocking."""
    rows = await locked_by(session, t.cases, t.cases.c.case_id, case_ids)
    return {row.case_id: CaseState.of_row(row) for row in rows}


async def _regraded(work: Work, result: Regraded) -> None:
    """A person's grade of one case: its state and the grade's history row, and `case.assessed`
    staged on the action's unit of work."""
    await upsert_rows(work.tx, t.cases, [result.state.as_row()])
    await work.tx.execute(insert(t.assessments), [result.assessment])
    work.uow.stage([result.event], case_id=result.state.case_id, cause=None)


class CaseStore:
    """The cases at hand, and each grade's history row, for shared/unit_of_work.py."""

    async def load(self, tx: AsyncSession, events: Sequence[Envelope]) -> dict[uuid.UUID, CaseState]:
        return await load_cases(tx, (event.case_id for event in events))

    async def save(self, tx: AsyncSession, loaded, states, assessments: Sequence[dict[str, Any]]) -> None:
        await upsert_rows(tx, t.cases, [states[case_id].as_row() for case_id in sorted(states)])
        if assessments:
            await tx.execute(insert(t.assessments), list(assessments))


async def _one_case(session: AsyncSession, case_id: uuid.UUID, visible: Callable[[str], bool]) -> CaseState:
    state = (await load_cases(session, [case_id])).get(case_id)
    if state is None or not visible(state.jurisdiction):
        raise CaseNotFound(f"no case {case_id} in your territory")
    return state


async def record_needs(
    work: Work,
    case_id: uuid.UUID,
    res: Resources,
    *,
    kind: str,
    stage: Stage,
    occurred_at: datetime,
    indicators: Iterable[Indicator],
    needs: Iterable[Need],
    details: dict[str, Any],
    by: str,
    visible: Callable[[str], bool],
    note: str | None = None,
) -> CaseState:
    """A home visit, assessment report or plan: recorded with its note, merged into the facts, re-graded."""
    session = work.tx
    state = await _one_case(session, case_id, visible)
    indicators, needs = list(indicators), list(needs)
    record_id = uuid.uuid4()
    await session.execute(
        insert(t.needs_records).values(
            id=record_id,
            case_id=case_id,
            kind=kind,
            occurred_at=occurred_at,
            indicators=[str(i) for i in indicators],
            needs=[str(n) for n in needs],
            details=details,
            recorded_by=by,
        )
    )
    state = dataclasses.replace(
        state,
        indicators=union(state.indicators, indicators),
        needs_found=union(state.needs_found, needs),
        stage=advance_stage(state.stage, stage).value,
    )
    now = res.clock()
    result = regraded(state, res.rules, now=now, cause=kind, caused_by=by)
    await _regraded(work, result)
    await save_notes(
        session,
        t.notes,
        res.cipher,
        [written(note, case_id=case_id, action=kind, by=by, at=now, about=record_id)],
    )
    return result.state


async def set_override(
    work: Work,
    case_id: uuid.UUID,
    res: Resources,
    *,
    override: Override | None,
    visible: Callable[[str], bool],
    note: str | None = None,
) -> CaseState:
    """A supervisor's grade (or its removal), with the supervisor's note. The rules' grade stays on
    record beside it."""
    session = work.tx
    state = await _one_case(session, case_id, visible)
    if override is None:
        result = regraded(
            state.without_override(),
            res.rules,
            now=res.clock(),
            cause="override_removed",
            caused_by="supervisor",
        )
    else:
        result = regraded(
            state.with_override(override),
            res.rules,
            now=res.clock(),
            cause="override",
            caused_by=override.by,
            validate_override=True,
        )
    await _regraded(work, result)
    if override is not None:
        await save_notes(
            session,
            t.notes,
            res.cipher,
            [
                written(
                    note,
                    case_id=case_id,
                    action="override",
                    by=override.by,
                    at=result.state.updated_at,
                    about=result.assessment["id"],
                )
            ],
        )
    return result.state


async def history(session: AsyncSession, case_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(t.assessments)
        .where(t.assessments.c.case_id == case_id)
        .order_by(t.assessments.c.created_at, t.assessments.c.id)
    )
    return [dict(r._mapping) for r in rows]


async def count_cases(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(t.cases))
