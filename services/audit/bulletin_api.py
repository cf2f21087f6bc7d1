"""What the record counts, over HTTP (issue 24): a territory's periodic bulletin — its figures for a
month, counted in one snapshot with the ledger's heads they were counted at (the console makes its
PDF and XLSX from them, and `cpnet bulletin verify` recounts them from the ledger) — and the cases a
joint meeting of the territory should look at. A supervisor asks for their own territory or a node
below it, an auditor for any; and what the record of the territory's open cases lacks (data quality)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel

from services.audit.agenda import proposed
from services.audit.bulletins import snapshot
from services.audit.indicators import Period, figures_as_dict
from services.audit.quality import RULES, lacking, scores
from services.audit.running import answered
from shared.auth import Principal, Role, require_role
from shared.http import answers
from shared.service import ServiceContext, service_context
from shared.territory.registry import TerritoryRegistry, load_territory

router = APIRouter(tags=["bulletins"])
BulletinReaders = require_role(Role.supervisor, Role.auditor)
MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
NodeCode = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="the node's 12-digit code")]
Reader = Annotated[Principal, Depends(BulletinReaders)]
Ctx = Annotated[ServiceContext, Depends(service_context)]


@cache
def territory(path: FilePath | None) -> TerritoryRegistry:
    """The territory registry the settings name (`CPNET_TERRITORY_FILE`), read once."""
    return load_territory(path)


class BulletinAnswer(BaseModel):
    """The figures (tables of codes: rows, columns, cells of a value and, for a median, the cases it
    is over) and the ledger they counted: each chain's size and the hash of its last entry."""

    node: str
    period: str
    as_of: str
    computed_at: str
    children: list[str]
    ledger_heads: dict[str, tuple[int, str]]
    ledger_entries: int
    ledger_digest: str
    tables: list[dict[str, Any]]


def _node(registry: TerritoryRegistry, code: str, principal: Principal) -> None:
    if code not in registry:
        raise HTTPException(404, "no such node in the territory")
    if not principal.can_see(code):
        raise HTTPException(403, "outside your territory")


@router.get(
    "/v1/bulletins/{territory_code}/{period}",
    response_model=BulletinAnswer,
    responses=answers(403, 404, 422),
    summary="A territory's periodic bulletin for a month: its figures and the ledger they counted",
)
async def bulletin(
    territory_code: NodeCode,
    period: Annotated[str, Path(pattern=MONTH, description="the month, e.g. 2026-11")],
    principal: Reader,
    ctx: Ctx,
) -> BulletinAnswer:
    registry = territory(ctx.settings.territory_file)
    _node(registry, territory_code, principal)
    children = tuple(child.code for child in registry.children(territory_code))
    async with ctx.sessions() as session, session.begin():
        await snapshot(session)
        made = await answered(
            session,
            ctx.sessions,
            territory_code,
            children,
            Period.parse(period),
            ctx.settings.audit_running_fresh_s,
        )
    return BulletinAnswer(
        **figures_as_dict(made.figures),
        computed_at=made.computed_at.isoformat(),
        children=list(children),
        ledger_heads=made.heads.chains,
        ledger_entries=made.heads.size,
        ledger_digest=made.heads.digest,
    )


class Proposed(BaseModel):
    """A case proposed for a joint meeting's agenda: why, which departments it concerns, since when."""

    case_id: uuid.UUID
    case_number: str | None
    jurisdiction: str
    reasons: list[str]
    agencies: list[str]
    since: datetime


@router.get(
    "/v1/agenda/{territory_code}",
    response_model=list[Proposed],
    responses=answers(403, 404, 422),
    summary="The open cases a joint meeting of the territory should look at (declined or long-overdue "
    "referrals, red cases without a plan or a delivered service), the longest waiting first",
)
async def proposed_agenda(
    territory_code: NodeCode,
    principal: Reader,
    ctx: Ctx,
) -> list[Proposed]:
    _node(territory(ctx.settings.territory_file), territory_code, principal)
    now = datetime.now(UTC)
    async with ctx.sessions() as session:
        found = await proposed(session, territory_code, now)
    return [
        Proposed(
            case_id=p.case_id,
            case_number=p.number,
            jurisdiction=p.jurisdiction,
            reasons=list(p.reasons),
            agencies=list(p.agencies),
            since=p.since,
        )
        for p in found
    ]


class ToCorrect(BaseModel):
    """An open case whose record lacks what rules of data quality ask: which, and since when."""

    case_id: uuid.UUID
    case_number: str | None
    jurisdiction: str
    rules: list[str]
    since: datetime


@router.get(
    "/v1/quality/{territory_code}",
    response_model=list[ToCorrect],
    responses=answers(403, 404, 422),
    summary="The territory's open cases whose record lacks what a rule of data quality asks (a red case "
    "with no home visit within 72 hours, not graded 24 hours after the report, neither birth date nor "
    "age), the longest waiting first; in pages (`offset`), the count in the X-Total-Count header",
)
async def to_correct(
    territory_code: NodeCode,
    principal: Reader,
    ctx: Ctx,
    response: Response,
    rule: Annotated[
        str | None, Query(pattern="^(" + "|".join(RULES) + ")$", description="only this rule")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ToCorrect]:
    _node(territory(ctx.settings.territory_file), territory_code, principal)
    async with ctx.sessions() as session:
        found, total = await lacking(
            session, territory_code, datetime.now(UTC), rule=rule, offset=offset, limit=limit
        )
    response.headers["X-Total-Count"] = str(total)
    return [
        ToCorrect(
            case_id=c.case_id,
            case_number=c.number,
            jurisdiction=c.jurisdiction,
            rules=list(c.rules),
            since=c.since,
        )
        for c in found
    ]


class QualityScore(BaseModel):
    """A node's open cases, how many lack nothing, and that share in per cent (none without cases)."""

    node: str
    open_cases: int
    clean: int
    score: float | None


@router.get(
    "/v1/quality/{territory_code}/scores",
    response_model=list[QualityScore],
    responses=answers(403, 404, 422),
    summary="Each child node's data-quality score (the share of its open cases lacking nothing), then "
    "the territory's own",
)
async def quality_scores(
    territory_code: NodeCode,
    principal: Reader,
    ctx: Ctx,
) -> list[QualityScore]:
    registry = territory(ctx.settings.territory_file)
    _node(registry, territory_code, principal)
    children = [child.code for child in registry.children(territory_code)]
    async with ctx.sessions() as session:
        found = await scores(session, territory_code, children, datetime.now(UTC))
    return [QualityScore(node=s.node, open_cases=s.open_cases, clean=s.clean, score=s.score) for s in found]
