"""A list's one line per case, so a person recognises each case among hundreds: the child's age
and sex and one line of what happened, limited to what the reader may see, each read on the ledger.
An agency officer gets the lines of the cases referred to the agency while the referral is open."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import tables as t
from services.intake.access import child_access
from shared.access import many_reads_route, record_accesses
from shared.auth import Principal, Role, require_role
from shared.case_number import CHINA_STANDARD_TIME
from shared.contracts.vocabulary import (
    OPEN_REFERRAL_STATES,
    AccessPurpose,
    CaseNumber,
    PersonalField,
)
from shared.db.rows import any_of
from shared.service import ServiceContext, service_context

router = APIRouter(tags=["intake"])
SummaryReaders = require_role(Role.caseworker, Role.supervisor, Role.agency_officer)
HEADLINE_CHARACTERS = 80
# What a summary may show of the child, and the fields a reader must be allowed for each.
SUMMARY_FIELDS = (
    PersonalField.sex,
    PersonalField.birth_date,
    PersonalField.age_estimate,
    PersonalField.narratives,
)


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=200)]
    purpose: AccessPurpose = AccessPurpose.worklist


class CaseLine(BaseModel):
    """One case as a list shows it; a field the reader may not see is null."""

    case_id: uuid.UUID
    case_number: CaseNumber
    jurisdiction: str = Field(description="Where the child lives or was seen")
    received_at: datetime = Field(description="When the latest report came in")
    sex: str | None
    age: int | None = Field(description="Years: from the birth date today, else the reporter's estimate")
    headline: str | None = Field(
        description=f"The latest report's first line, at most {HEADLINE_CHARACTERS} characters"
    )


class Summaries(BaseModel):
    cases: list[CaseLine] = Field(
        description="The cases asked for that lie in your territory, in the order asked"
    )


def headline_of(narrative: str | None) -> str | None:
    """The first line of a narrative, cut to a list's width with an ellipsis."""
    first = next((line.strip() for line in (narrative or "").splitlines() if line.strip()), "")
    if not first:
        return None
    return first if len(first) <= HEADLINE_CHARACTERS else first[: HEADLINE_CHARACTERS - 1] + "…"


def age_on(identity: dict[str, Any], today: date) -> int | None:
    born = identity.get("birth_date")
    if born:
        born = date.fromisoformat(born)
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return identity.get("age_estimate")


def line_of(
    case,
    child_identity: dict[str, Any],
    narrative: str | None,
    received_at: datetime,
    shown: tuple[PersonalField, ...],
    today: date,
) -> CaseLine:
    """What the reader may see of one case: pure, from the decrypted records."""
    may_age = PersonalField.birth_date in shown or PersonalField.age_estimate in shown
    return CaseLine(
        case_id=case.id,
        case_number=case.case_number,
        jurisdiction=case.jurisdiction,
        received_at=received_at,
        sex=child_identity.get("sex") if PersonalField.sex in shown else None,
        age=age_on(child_identity, today) if may_age else None,
        headline=headline_of(narrative) if PersonalField.narratives in shown else None,
    )


@router.post(
    "/v1/cases/summaries",
    **many_reads_route(Summaries, "reads"),
    summary="One line per case for a list (age, sex, what happened), each read on the ledger",
)
async def summaries(
    body: SummaryQuery,
    principal: Annotated[Principal, Depends(SummaryReaders)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> Summaries:
    """Cases outside the reader's territory are left out (a list never names them); the read of each
    case shown is recorded, with its purpose, before anything is decrypted."""
    shown = tuple(f for f in ctx.resources.disclosure.fields_for(principal) if f in SUMMARY_FIELDS)
    c, r = t.cases.c, t.reports.c
    async with ctx.unit_of_work() as work:
        session = work.tx
        cases = [
            row
            for row in (await session.execute(select(t.cases).where(any_of(c.id, body.case_ids)))).all()
            if principal.can_see(row.jurisdiction)
        ]
        referrals = await _open_referrals(session, principal, [case.id for case in cases])
        if principal.agency is not None:  # an agency sees the cases referred to it, while referred
            cases = [case for case in cases if case.id in referrals]
        children = dict(
            (
                await session.execute(
                    select(t.children.c.id, t.children.c.identity).where(
                        any_of(t.children.c.id, [case.child_id for case in cases])
                    )
                )
            ).all()
        )
        latest = {
            row.case_id: row
            for row in (
                await session.execute(
                    select(r.case_id, r.id, r.received_at, r.confidential)
                    .where(any_of(r.case_id, [case.id for case in cases]))
                    .distinct(r.case_id)
                    .order_by(r.case_id, r.received_at.desc())
                )
            ).all()
        }
        if shown:
            record_accesses(
                work.uow,
                [
                    child_access(
                        principal,
                        case,
                        fields=shown,
                        purpose=body.purpose,
                        referral_id=referrals.get(case.id),
                    )
                    for case in cases
                ],
            )
    cipher, today = ctx.resources.cipher, datetime.now(CHINA_STANDARD_TIME).date()
    order = {case_id: i for i, case_id in enumerate(body.case_ids)}
    lines = []
    for case in sorted(cases, key=lambda row: order[row.id]):
        report = latest[case.id]
        identity = cipher.decrypt_json(children[case.child_id], record_id=str(case.child_id)) if shown else {}
        narrative = (
            cipher.decrypt_json(report.confidential, record_id=str(report.id))["narrative"]
            if PersonalField.narratives in shown
            else None
        )
        lines.append(line_of(case, identity, narrative, report.received_at, shown, today))
    return Summaries(cases=lines)


async def _open_referrals(
    session: AsyncSession, principal: Principal, case_ids: list[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """An agency officer's open referral of each case that has one (the read is by it), else nothing."""
    if principal.agency is None:
        return {}
    g = t.referral_grants.c
    rows = await session.execute(
        select(g.case_id, g.referral_id).where(
            any_of(g.case_id, case_ids), g.agency == principal.agency.value, g.state.in_(OPEN_REFERRAL_STATES)
        )
    )
    return dict(rows.all())
