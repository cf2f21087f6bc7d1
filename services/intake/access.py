"""Who may read a child's personal data, and the record of every read: agencies by the open
referrals intake has heard of, and one `access.recorded` event per read, staged in the same
transaction as the read so nothing is shown that is not on record."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import case, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import tables as t
from services.intake.decide import BATCH, Grants, grants_after
from shared.contracts.envelope import Envelope
from shared.contracts.vocabulary import OPEN_REFERRAL_STATES, CaseStatus
from shared.db.rows import upsert_rows

__all__ = ["GrantStore", "grants_after"]


class GrantStore:
    """Referral grants, for shared/unit_of_work.py: nothing to load (a batch's news is folded on its
    own, `services/intake/decide.py` `granted`), each referral's row saved with one statement each."""

    async def load(self, tx: AsyncSession, events: Sequence[Envelope]) -> dict[str, Grants]:
        return {BATCH: Grants()}

    async def save(self, tx: AsyncSession, loaded, states, records) -> None:
        grants: Grants = states[BATCH]
        key = [t.referral_grants.c.referral_id]
        # Statements of a fixed shape with the rows as parameters (one prepared statement executed for
        # many), not one VALUES list per batch, which SQLAlchemy would compile anew for every size.
        if grants.created:
            await tx.execute(
                pg_insert(t.referral_grants).on_conflict_do_nothing(index_elements=key),
                list(grants.created.values()),
            )
        await upsert_rows(
            tx, t.referral_grants, list(grants.changed.values()), updated=("state", "updated_at")
        )


async def open_referral(session: AsyncSession, case_id: uuid.UUID, agency: str) -> uuid.UUID | None:
    """The open referral of the case to the agency that entitles it to read, if any."""
    g = t.referral_grants.c
    return await session.scalar(
        select(g.referral_id)
        .where(g.case_id == case_id, g.agency == agency, g.state.in_(OPEN_REFERRAL_STATES))
        .order_by(g.updated_at.desc())
        .limit(1)
    )


async def latest_case(session: AsyncSession, child_ref: uuid.UUID):
    """The child's open case, else its most recently opened one (every registered child has one)."""
    c = t.cases.c
    return (
        await session.execute(
            select(c.id, c.jurisdiction, c.case_number)
            .where(c.child_id == child_ref)
            .order_by(case((c.state == CaseStatus.open, 0), else_=1), c.opened_at.desc())
            .limit(1)
        )
    ).first()
