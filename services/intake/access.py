"""Who may read a child's personal data, and the record of every read: agencies by the open
referrals intake has heard of, and one `access.recorded` event per read, staged in the same
transaction as the read so nothing is shown that is not on record."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import tables as t
from services.intake.consent import Consent, entitling, party_of
from services.intake.decide import BATCH, Grants, grants_after
from shared.access import OUTSIDE_TERRITORY, access_of
from shared.auth import Principal
from shared.contracts.envelope import Envelope
from shared.contracts.events import PersonalDataAccessed
from shared.contracts.vocabulary import (
    OPEN_REFERRAL_STATES,
    OPEN_SERVICE_STATES,
    AccessPurpose,
    Agency,
    CaseStatus,
    ConsentGiver,
    ConsentKind,
    ConsentWay,
    OverrideReason,
    PersonalField,
    PersonalRecord,
    ProviderKind,
    SharingParty,
)
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
            insert = pg_insert(t.referral_grants)
            # Its state may have come first, from the other topic: the referral's creation still says
            # whether it is an emergency.
            await tx.execute(
                insert.on_conflict_do_update(
                    index_elements=key, set_={"emergency": insert.excluded.emergency}
                ),
                list(grants.created.values()),
            )
        await upsert_rows(
            tx, t.referral_grants, list(grants.changed.values()), updated=("state", "updated_at")
        )
        await upsert_rows(
            tx, t.service_grants, list(grants.services.values()), updated=("state", "updated_at")
        )


async def open_referral(session: AsyncSession, case_id: uuid.UUID, agency: str):
    """The open referral of the case to the agency that entitles it to read, if any (its id and whether
    it is an emergency; an emergency's first)."""
    g = t.referral_grants.c
    return (
        await session.execute(
            select(g.referral_id, g.emergency)
            .where(g.case_id == case_id, g.agency == agency, g.state.in_(OPEN_REFERRAL_STATES))
            .order_by(g.emergency.desc(), g.updated_at.desc())
            .limit(1)
        )
    ).first()


async def open_service(session: AsyncSession, case_id: uuid.UUID, provider_id: uuid.UUID):
    """An open service of the case its provider delivers, which entitles the provider's workers to read."""
    g = t.service_grants.c
    return (
        await session.execute(
            select(g.service_id, g.provider_kind)
            .where(g.case_id == case_id, g.provider_id == provider_id, g.state.in_(OPEN_SERVICE_STATES))
            .order_by(g.updated_at.desc())
            .limit(1)
        )
    ).first()


@dataclass(frozen=True)
class Entitlement:
    """Why a reader may read a case's child, or why not: the refusal, else the referral, service and
    consent that let it (each None when not needed)."""

    refusal: str | None = None
    referral_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    consent_id: uuid.UUID | None = None
    provider_kind: ProviderKind | None = None
    party: SharingParty | None = None


async def entitlement(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, jurisdiction: str
) -> Entitlement:
    """The territory, then an agency's open referral or a provider's open service, then the consent
    (services/intake/consent.py) — the first that fails is the refusal."""
    if not principal.can_see(jurisdiction):
        return Entitlement(refusal=OUTSIDE_TERRITORY)
    referral_id = service_id = provider_kind = None
    emergency_police = False
    if principal.agency is not None:
        referral = await open_referral(session, case_id, principal.agency.value)
        if referral is None:
            return Entitlement(refusal="no_open_referral")
        referral_id = referral.referral_id
        emergency_police = referral.emergency and principal.agency is Agency.police
    elif principal.provider is not None:
        service = await open_service(session, case_id, principal.provider)
        if service is None:
            return Entitlement(refusal="no_open_service")
        service_id, provider_kind = service.service_id, ProviderKind(service.provider_kind)
    party = party_of(principal.role, principal.agency, provider_kind)
    refusal, consent_id = entitling(
        await consents_of(session, case_id) if party else (), party, emergency_police=emergency_police
    )
    return Entitlement(refusal, referral_id, service_id, consent_id, provider_kind, party)


async def consents_of(session: AsyncSession, case_id: uuid.UUID) -> list[Consent]:
    """A case's consent records, oldest first."""
    c = t.consents.c
    rows = (
        await session.execute(select(t.consents).where(c.case_id == case_id).order_by(c.recorded_at))
    ).all()
    return [consent_of(row) for row in rows]


def consent_of(row) -> Consent:
    values = dict(row._mapping)
    return Consent(
        **{
            **values,
            "kind": ConsentKind(values["kind"]),
            "parties": tuple(SharingParty(p) for p in values["parties"]),
            "given_by": values["given_by"] and ConsentGiver(values["given_by"]),
            "way": values["way"] and ConsentWay(values["way"]),
            "reason": values["reason"] and OverrideReason(values["reason"]),
        }
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


def child_access(
    principal: Principal,
    case,
    *,
    fields: Sequence[PersonalField],
    purpose: AccessPurpose,
    action: str = "read",
    referral_id: uuid.UUID | None = None,
    refusal: str | None = None,
) -> PersonalDataAccessed:
    """The ledger's record of a read (or export, or refused attempt) of the child of `case`, a row of
    intake's cases, as a list reads many at once."""
    return access_of(
        principal,
        case_id=case.id,
        child_ref=case.child_id,
        jurisdiction=case.jurisdiction,
        record=PersonalRecord.child_details,
        fields=fields,
        purpose=purpose,
        action=action,
        referral_id=referral_id,
        refusal=refusal,
    )
