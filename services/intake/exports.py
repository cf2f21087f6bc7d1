"""Children's details for an export — a spreadsheet that leaves the system in a password-protected
archive: many cases in one request, each child's read on the access ledger (action `export`, with its
purpose) in the same transaction, before anything is decrypted. A case not the reader's to see is left
out and counted, never named."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.intake import tables as t
from services.intake.access import child_access, entitlement
from services.intake.disclosure import FILE_ROLES, IDENTITY_FIELDS
from shared.access import many_reads_route, record_accesses
from shared.auth import Principal, require_role
from shared.contracts.vocabulary import AccessPurpose, CaseNumber, PersonalField
from shared.db.rows import any_of
from shared.service import ServiceContext, service_context

router = APIRouter(tags=["intake"])
# Those who read a child's file by territory; an agency or a provider reads one child at a time, by
# its referral or service.
ExportReaders = require_role(*FILE_ROLES)
MAX_CASES = 1000
EXPORT = "export"


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_CASES)]
    purpose: AccessPurpose = Field(description="Why the children's details leave the system; on the ledger")


class ExportedChild(BaseModel):
    case_id: uuid.UUID
    case_number: CaseNumber
    child_ref: uuid.UUID
    provisional: bool = Field(description="Nobody could name the child yet: described, not named")
    jurisdiction: str
    access_id: uuid.UUID = Field(description="The ledger's record of this child's export")
    identity: dict[str, Any] = Field(description="The child's identity, restricted to `shown`")


class ChildrenExport(BaseModel):
    purpose: AccessPurpose
    shown: list[PersonalField] = Field(description="The fields you may see; the others are left out")
    children: list[ExportedChild] = Field(description="The cases asked for that you may read, in that order")
    left_out: int = Field(
        description="Cases asked for that are not yours to read, or that do not exist (neither is named)"
    )


@router.post(
    "/v1/children/export",
    **many_reads_route(ChildrenExport, "exports"),
    summary="The identities of many cases' children, for a password-protected export, each on the ledger",
)
async def export_children(
    body: ExportQuery,
    principal: Annotated[Principal, Depends(ExportReaders)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> ChildrenExport:
    """For caseworkers and supervisors, by territory, as a single read of a child's details decides.
    Every case asked for that exists is on the access ledger as an export with its purpose — shown, or
    refused (and then left out) — committed before any identity is decrypted."""
    case_ids = list(dict.fromkeys(body.case_ids))
    shown = tuple(f for f in ctx.resources.disclosure.fields_for(principal) if f in IDENTITY_FIELDS)
    c = t.cases.c
    async with ctx.unit_of_work() as work:
        session = work.tx
        cases = (await session.execute(select(t.cases).where(any_of(c.id, case_ids)))).all()
        refusals = {
            case.id: (await entitlement(session, principal, case.id, case.jurisdiction)).refusal
            for case in cases
        }
        allowed = [case for case in cases if refusals[case.id] is None]
        children = {
            row.id: row
            for row in (
                await session.execute(
                    select(t.children.c.id, t.children.c.identity, t.children.c.provisional).where(
                        any_of(t.children.c.id, [case.child_id for case in allowed])
                    )
                )
            ).all()
        }
        accesses = {
            case.id: child_access(
                principal, case, fields=shown, purpose=body.purpose, action=EXPORT, refusal=refusals[case.id]
            )
            for case in cases
        }
        record_accesses(work.uow, accesses.values())
    # Committed: every export (and every refused one) is on the ledger's way. Only now is anything
    # decrypted.
    cipher = ctx.resources.cipher
    order = {case_id: i for i, case_id in enumerate(case_ids)}
    exported = []
    for case in sorted(allowed, key=lambda row: order[row.id]):
        child = children[case.child_id]
        identity = cipher.decrypt_json(child.identity, record_id=str(case.child_id))
        exported.append(
            ExportedChild(
                case_id=case.id,
                case_number=case.case_number,
                child_ref=case.child_id,
                provisional=child.provisional,
                jurisdiction=case.jurisdiction,
                access_id=accesses[case.id].access_id,
                identity={f.value: identity.get(f.value) for f in shown},
            )
        )
    return ChildrenExport(
        purpose=body.purpose, shown=list(shown), children=exported, left_out=len(case_ids) - len(exported)
    )
