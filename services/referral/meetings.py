"""Joint meetings (联席会议): a county's (or the city's) supervisors convene the departments, record who came,
what was decided for each case discussed, and the action items (督办事项) given to departments — each with
its owner, its task and the day it is due, in that department's inbox until it marks it done.

Referral owns them, as it owns what departments are asked to do: each change is one transaction — the
rows, its note sealed in referral's notes, and `meeting.decision` or `meeting.action_item` for the ledger
and the case's timeline (codes and days only). The minutes are read whole, every note opened only once
one read of each case's notes is on the access ledger."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func, select, update

from services.referral import tables as t
from services.referral.action_items import late_from
from services.referral.api import Ctx
from services.referral.provision import LOCAL
from shared.access import (
    PERSONAL_READ,
    CaseNotes,
    Purpose,
    Reading,
    addressed_to,
    notes_route,
    read_answers,
    read_case_notes,
    record_access,
)
from shared.auth import SUPERVISORS, TERRITORY_PREFIX_PATTERN, Principal, Role, require_role
from shared.contracts.events import ActionItemChanged, MeetingDecided
from shared.contracts.vocabulary import (
    AccessPurpose,
    ActionItemState,
    ActionTask,
    Agency,
    CaseNumber,
    Jurisdiction,
    MeetingDecision,
    PastDay,
    PersonalField,
    PersonalRecord,
)
from shared.http import answers, note_required
from shared.notes import NoteText, WrittenNote, save_notes, sealed_notes, unseal, written, written_notes
from shared.territory.code import CONVENING_LEVELS, in_subtree, is_within, node_of, territory_level

router = APIRouter(tags=["meetings"])
Conveners = require_role(*SUPERVISORS)
MeetingReaders = require_role(Role.supervisor, Role.auditor)
ItemReaders = require_role(Role.agency_officer, Role.supervisor, Role.caseworker, Role.auditor)
ItemHolders = require_role(Role.agency_officer, Role.supervisor)
ItemNoteReaders = require_role(Role.agency_officer, Role.caseworker, Role.supervisor)
NO_SUCH_MEETING = "no such meeting for you"
NO_SUCH_ITEM = "no such action item for you"
NOTE_REQUIRED = "this is recorded with a note, in words"


def _today(now: datetime) -> date:
    return now.astimezone(LOCAL).date()


class NewMeeting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jurisdiction: Jurisdiction = Field(description="The convening node: a county's or the city's code")
    held_on: PastDay = Field(description="The day it sat (never in the future)")
    present: list[Agency] = Field(min_length=1, description="The departments that took part")

    @field_validator("jurisdiction")
    @classmethod
    def _convening_level(cls, code: str) -> str:
        if territory_level(code) not in CONVENING_LEVELS:
            raise ValueError("joint meetings are convened by a county or the city, not below")
        return code


class Attendance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    present: list[Agency] = Field(min_length=1, description="The departments that took part")


class NewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: uuid.UUID | None = Field(default=None, description="A case the agenda proposed; or its number")
    case_number: CaseNumber | None = Field(
        default=None, description="A case put forward by its number (a caseworker's, not on the agenda)"
    )
    decision: MeetingDecision
    note: NoteText = None

    @model_validator(mode="after")
    def _one_case(self) -> NewDecision:
        if (self.case_id is None) == (self.case_number is None):
            raise ValueError("name the case by case_id or by case_number, one of them")
        return self


class NewActionItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: uuid.UUID = Field(description="A case this meeting decided on")
    agency: Agency = Field(description="The department that owns it")
    task: ActionTask
    due_on: date = Field(description="The day it is due; not before the meeting")
    note: NoteText = None


class Done(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: NoteText = None


class ActionItemOut(BaseModel):
    action_item_id: uuid.UUID
    meeting_id: uuid.UUID
    held_on: date
    case_id: uuid.UUID
    case_number: str | None
    agency: Agency
    task: ActionTask
    jurisdiction: str
    due_on: date
    state: ActionItemState
    overdue: bool = Field(description="Still open after the day it was due")
    done_at: datetime | None
    holder: str = Field(description="The node answerable now: the case's, then each level it climbed to")
    escalations: int = Field(description="How many levels it climbed, left open after its day")


class DecidedCase(BaseModel):
    case_id: uuid.UUID
    case_number: str | None
    risk_level: str | None
    decision: MeetingDecision
    decided_at: datetime


class MeetingOut(BaseModel):
    meeting_id: uuid.UUID
    jurisdiction: str
    held_on: date
    present: list[Agency]
    convened_by: str
    cases: list[DecidedCase]
    action_items: list[ActionItemOut]


class MeetingSummary(BaseModel):
    meeting_id: uuid.UUID
    jurisdiction: str
    held_on: date
    present: list[Agency]
    cases: int
    open_items: int


class MinutesNote(WrittenNote):
    case_id: uuid.UUID = Field(description="The case it was written for")


class Minutes(BaseModel):
    access_ids: list[uuid.UUID] = Field(description="The ledger's record of the read of each case's notes")
    purpose: AccessPurpose
    meeting: MeetingOut
    notes: list[MinutesNote] = Field(
        description="What was written with each decision (about: the meeting) and action item (about: the "
        "item), oldest first; one read of each case's notes on the access ledger"
    )


def _items_query():
    i = t.action_items.c
    return select(t.action_items, t.meetings.c.held_on, t.cases.c.case_number).select_from(
        t.action_items.join(t.meetings, t.meetings.c.id == i.meeting_id).outerjoin(
            t.cases, t.cases.c.case_id == i.case_id
        )
    )


def _item(row, today: date) -> ActionItemOut:
    return ActionItemOut(
        action_item_id=row.id,
        meeting_id=row.meeting_id,
        held_on=row.held_on,
        case_id=row.case_id,
        case_number=row.case_number,
        agency=row.agency,
        task=row.task,
        jurisdiction=row.jurisdiction,
        due_on=row.due_on,
        state=row.state,
        overdue=row.state == ActionItemState.open and row.due_on < today,
        done_at=row.done_at,
        holder=row.holder,
        escalations=row.escalations,
    )


async def _meeting(session, meeting_id: uuid.UUID, principal: Principal, today: date) -> MeetingOut:
    row = (await session.execute(select(t.meetings).where(t.meetings.c.id == meeting_id))).first()
    if row is None or not principal.can_see(row.jurisdiction):
        raise HTTPException(status_code=404, detail=NO_SUCH_MEETING)
    mc = t.meeting_cases.c
    cases = (
        await session.execute(
            select(t.meeting_cases, t.cases.c.case_number, t.cases.c.risk_level)
            .outerjoin(t.cases, t.cases.c.case_id == mc.case_id)
            .where(mc.meeting_id == meeting_id)
            .order_by(mc.decided_at, mc.case_id)
        )
    ).all()
    items = (
        await session.execute(
            _items_query()
            .where(t.action_items.c.meeting_id == meeting_id)
            .order_by(t.action_items.c.created_at, t.action_items.c.id)
        )
    ).all()
    return MeetingOut(
        meeting_id=row.id,
        jurisdiction=row.jurisdiction,
        held_on=row.held_on,
        present=row.present,
        convened_by=row.convened_by,
        cases=[
            DecidedCase(
                case_id=c.case_id,
                case_number=c.case_number,
                risk_level=c.risk_level,
                decision=c.decision,
                decided_at=c.decided_at,
            )
            for c in cases
        ],
        action_items=[_item(i, today) for i in items],
    )


@router.post(
    "/v1/meetings",
    response_model=MeetingOut,
    status_code=201,
    responses=answers(404, 413),
    summary="Record a joint meeting (联席会议) of departments: the convening node, the day, who took part",
)
async def convene(
    body: NewMeeting, principal: Annotated[Principal, Depends(Conveners)], ctx: Ctx
) -> MeetingOut:
    if not principal.can_see(body.jurisdiction):
        raise HTTPException(status_code=404, detail="no such territory for you")
    now = ctx.resources.clock()
    meeting_id = ctx.resources.new_id()
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            t.meetings.insert().values(
                id=meeting_id,
                jurisdiction=body.jurisdiction,
                held_on=body.held_on,
                present=sorted({a.value for a in body.present}),
                convened_by=principal.subject,
                convened_at=now,
            )
        )
        return await _meeting(session, meeting_id, principal, _today(now))


@router.get(
    "/v1/meetings",
    response_model=list[MeetingSummary],
    summary="Joint meetings in your territory or under a node, the latest first; the count in X-Total-Count",
)
async def list_meetings(
    principal: Annotated[Principal, Depends(MeetingReaders)],
    ctx: Ctx,
    response: Response,
    jurisdiction: Annotated[str | None, Query(pattern=TERRITORY_PREFIX_PATTERN)] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[MeetingSummary]:
    m = t.meetings.c
    where = [in_subtree(m.jurisdiction, p) for p in filter(None, (principal.jurisdiction, jurisdiction))]
    decided = (
        select(func.count())
        .where(t.meeting_cases.c.meeting_id == m.id)
        .correlate(t.meetings)
        .scalar_subquery()
    )
    open_items = (
        select(func.count())
        .where(t.action_items.c.meeting_id == m.id, t.action_items.c.state == ActionItemState.open.value)
        .correlate(t.meetings)
        .scalar_subquery()
    )
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(
                    m.id,
                    m.jurisdiction,
                    m.held_on,
                    m.present,
                    decided.label("cases"),
                    open_items.label("items"),
                )
                .where(*where)
                .order_by(m.held_on.desc(), m.convened_at.desc())
                .offset(offset)
                .limit(limit)
            )
        ).all()
        response.headers["X-Total-Count"] = str(
            await session.scalar(select(func.count()).select_from(t.meetings).where(*where))
        )
    return [
        MeetingSummary(
            meeting_id=r.id,
            jurisdiction=r.jurisdiction,
            held_on=r.held_on,
            present=r.present,
            cases=r.cases,
            open_items=r.items,
        )
        for r in rows
    ]


@router.get(
    "/v1/meetings/{meeting_id}",
    response_model=MeetingOut,
    responses=answers(404),
    summary="A joint meeting: who took part, each case's decision, its action items and where they stand",
)
async def get_meeting(
    meeting_id: uuid.UUID, principal: Annotated[Principal, Depends(MeetingReaders)], ctx: Ctx
) -> MeetingOut:
    async with ctx.sessions() as session:
        return await _meeting(session, meeting_id, principal, _today(ctx.resources.clock()))


async def _held(work, meeting_id: uuid.UUID, principal: Principal):
    row = (
        await work.tx.execute(select(t.meetings).where(t.meetings.c.id == meeting_id).with_for_update())
    ).first()
    if row is None or not principal.can_see(row.jurisdiction):
        raise HTTPException(status_code=404, detail=NO_SUCH_MEETING)
    return row


@router.post(
    "/v1/meetings/{meeting_id}/attendance",
    response_model=MeetingOut,
    responses=answers(404, 413),
    summary="Correct who took part in a joint meeting",
)
async def record_attendance(
    meeting_id: uuid.UUID, body: Attendance, principal: Annotated[Principal, Depends(Conveners)], ctx: Ctx
) -> MeetingOut:
    async with ctx.unit_of_work() as work:
        await _held(work, meeting_id, principal)
        await work.tx.execute(
            update(t.meetings)
            .where(t.meetings.c.id == meeting_id)
            .values(present=sorted({a.value for a in body.present}))
        )
        return await _meeting(work.tx, meeting_id, principal, _today(ctx.resources.clock()))


@router.post(
    "/v1/meetings/{meeting_id}/decisions",
    response_model=MeetingOut,
    status_code=201,
    responses=answers(404, 409, 413, described={409: "this meeting decided on the case already"}),
    summary="What a joint meeting decided for a case in its territory, with what was said (a note)",
)
async def decide_case(
    meeting_id: uuid.UUID, body: NewDecision, principal: Annotated[Principal, Depends(Conveners)], ctx: Ctx
) -> MeetingOut:
    note_required(body.note, NOTE_REQUIRED)
    now = ctx.resources.clock()
    async with ctx.unit_of_work() as work:
        meeting = await _held(work, meeting_id, principal)
        named = (
            t.cases.c.case_id == body.case_id
            if body.case_id is not None
            else t.cases.c.case_number == body.case_number
        )
        case = (await work.tx.execute(select(t.cases).where(named))).first()
        if case is None or not is_within(case.jurisdiction, meeting.jurisdiction):
            raise HTTPException(status_code=404, detail="no such case in this meeting's territory")
        case_id = case.case_id
        already = await work.tx.scalar(
            select(t.meeting_cases.c.decision).where(
                t.meeting_cases.c.meeting_id == meeting_id, t.meeting_cases.c.case_id == case_id
            )
        )
        if already is not None:
            raise HTTPException(
                status_code=409, detail=f"this meeting decided {already} for the case already"
            )
        await work.tx.execute(
            t.meeting_cases.insert().values(
                meeting_id=meeting_id,
                case_id=case_id,
                decision=body.decision.value,
                decided_by=principal.subject,
                decided_at=now,
            )
        )
        decided = MeetingDecided(
            meeting_id=meeting_id,
            case_id=case_id,
            decision=body.decision,
            held_on=meeting.held_on,
            convened_at=meeting.jurisdiction,
            present=[Agency(a) for a in meeting.present],
            jurisdiction=case.jurisdiction,
            decided_by=principal.subject,
            decided_at=now,
        )
        work.uow.stage([decided], case_id=case_id, cause=None)
        note = written(
            body.note,
            case_id=case_id,
            action="meeting_decision",
            by=principal.subject,
            at=now,
            about=meeting_id,
        )
        await save_notes(work.tx, t.notes, ctx.resources.cipher, [note])
        return await _meeting(work.tx, meeting_id, principal, _today(now))


def _announced(row, *, by: str, at: datetime) -> ActionItemChanged:
    return ActionItemChanged(
        action_item_id=row.id,
        meeting_id=row.meeting_id,
        case_id=row.case_id,
        agency=Agency(row.agency),
        task=ActionTask(row.task),
        due_on=row.due_on,
        state=ActionItemState(row.state),
        jurisdiction=row.jurisdiction,
        changed_by=by,
        changed_at=at,
    )


async def _item_changed(ctx: Ctx, work, item_id: uuid.UUID, *, by: str, at: datetime, note, action: str):
    """The item as it now stands announced, and its note sealed, in the change's transaction."""
    row = (await work.tx.execute(_items_query().where(t.action_items.c.id == item_id))).one()
    work.uow.stage([_announced(row, by=by, at=at)], case_id=row.case_id, cause=None)
    await save_notes(
        work.tx,
        t.notes,
        ctx.resources.cipher,
        [written(note, case_id=row.case_id, action=action, by=by, at=at, about=item_id)],
    )
    return _item(row, _today(at))


@router.post(
    "/v1/meetings/{meeting_id}/action-items",
    response_model=ActionItemOut,
    status_code=201,
    responses=answers(404, 409, 413, described={409: "the meeting has not decided on the case"}),
    summary="An action item (督办事项) for a department: the case, the task, the day it is due, what to do",
)
async def give_action_item(
    meeting_id: uuid.UUID, body: NewActionItem, principal: Annotated[Principal, Depends(Conveners)], ctx: Ctx
) -> ActionItemOut:
    note_required(body.note, NOTE_REQUIRED)
    now = ctx.resources.clock()
    async with ctx.unit_of_work() as work:
        meeting = await _held(work, meeting_id, principal)
        if body.due_on < meeting.held_on:
            raise HTTPException(
                status_code=422,
                detail=[
                    {"loc": ["body", "due_on"], "msg": "due before the meeting sat", "type": "value_error"}
                ],
            )
        case = (
            await work.tx.execute(
                select(t.cases.c.jurisdiction)
                .select_from(t.meeting_cases.join(t.cases, t.cases.c.case_id == t.meeting_cases.c.case_id))
                .where(t.meeting_cases.c.meeting_id == meeting_id, t.meeting_cases.c.case_id == body.case_id)
            )
        ).first()
        if case is None:
            raise HTTPException(status_code=409, detail="the meeting has not decided on this case")
        item_id = ctx.resources.new_id()
        await work.tx.execute(
            t.action_items.insert().values(
                id=item_id,
                meeting_id=meeting_id,
                case_id=body.case_id,
                agency=body.agency.value,
                task=body.task.value,
                jurisdiction=case.jurisdiction,
                due_on=body.due_on,
                state=ActionItemState.open.value,
                created_by=principal.subject,
                created_at=now,
                holder=case.jurisdiction,
                escalate_at=late_from(body.due_on),
            )
        )
        return await _item_changed(
            ctx, work, item_id, by=principal.subject, at=now, note=body.note, action="action_item"
        )


@router.get(
    "/v1/action-items",
    response_model=list[ActionItemOut],
    summary="Action items of joint meetings: an agency's own (its inbox), or those of a territory or a "
    "case; the overdue first, then by the day due; the count in X-Total-Count",
)
async def list_action_items(
    principal: Annotated[Principal, Depends(ItemReaders)],
    ctx: Ctx,
    response: Response,
    agency: Agency | None = None,
    state: ActionItemState | None = None,
    case_id: uuid.UUID | None = None,
    jurisdiction: Annotated[str | None, Query(pattern=TERRITORY_PREFIX_PATTERN)] = None,
    held_here: Annotated[
        bool | None,
        Query(description="escalated to your own node: left open after its day, it climbed to your level"),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ActionItemOut]:
    i = t.action_items.c
    today = _today(ctx.resources.clock())
    if principal.role == Role.agency_officer:
        agency = principal.agency  # a department sees only its own
    where = [in_subtree(i.jurisdiction, p) for p in filter(None, (principal.jurisdiction, jurisdiction))]
    if agency:
        where.append(i.agency == agency.value)
    if state:
        where.append(i.state == state.value)
    if case_id:
        where.append(i.case_id == case_id)
    if held_here:
        where += [i.escalations > 0, i.holder == node_of(principal.jurisdiction)]
    late = (i.state == ActionItemState.open.value) & (i.due_on < today)
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                _items_query()
                .where(*where)
                .order_by(late.desc(), i.state, i.due_on, i.id)
                .offset(offset)
                .limit(limit)
            )
        ).all()
        response.headers["X-Total-Count"] = str(
            await session.scalar(select(func.count()).select_from(t.action_items).where(*where))
        )
    return [_item(r, today) for r in rows]


@router.post(
    "/v1/action-items/{action_item_id}/done",
    response_model=ActionItemOut,
    responses=answers(404, 409, 413, described={409: "done already"}),
    summary="The owning department marks its action item done, saying what it did (a note)",
)
async def mark_done(
    action_item_id: uuid.UUID, body: Done, principal: Annotated[Principal, Depends(ItemHolders)], ctx: Ctx
) -> ActionItemOut:
    note_required(body.note, NOTE_REQUIRED)
    now = ctx.resources.clock()
    async with ctx.unit_of_work() as work:
        i = t.action_items.c
        row = (
            await work.tx.execute(select(t.action_items).where(i.id == action_item_id).with_for_update())
        ).first()
        if (
            row is None
            or not principal.can_see(row.jurisdiction)
            or (principal.role == Role.agency_officer and principal.agency != row.agency)
        ):
            raise HTTPException(status_code=404, detail=NO_SUCH_ITEM)
        if row.state == ActionItemState.done:
            raise HTTPException(status_code=409, detail=f"done already, at {row.done_at.isoformat()}")
        await work.tx.execute(
            update(t.action_items)
            .where(i.id == action_item_id)
            .values(state=ActionItemState.done.value, done_by=principal.subject, done_at=now)
        )
        return await _item_changed(
            ctx, work, action_item_id, by=principal.subject, at=now, note=body.note, action="action_item_done"
        )


@router.get(
    "/v1/meetings/{meeting_id}/minutes",
    response_model=Minutes,
    dependencies=PERSONAL_READ,
    responses=read_answers(NO_SUCH_MEETING),
    summary="A joint meeting's minutes: the meeting and every note written with its decisions and action "
    "items; one read of each case's notes on the access ledger first",
)
async def read_minutes(
    meeting_id: uuid.UUID, purpose: Purpose, principal: Annotated[Principal, Depends(Conveners)], ctx: Ctx
) -> Minutes:
    async with ctx.unit_of_work() as work:
        meeting = await _meeting(work.tx, meeting_id, principal, _today(ctx.resources.clock()))
        cases = {c.case_id for c in meeting.cases}
        about = {meeting_id, *(i.action_item_id for i in meeting.action_items)}
        known = (
            await work.tx.execute(
                select(t.cases.c.case_id, t.cases.c.child_ref, t.cases.c.jurisdiction).where(
                    t.cases.c.case_id.in_(cases)
                )
            )
        ).all()
        accesses = [
            record_access(
                work.uow,
                principal,
                case_id=c.case_id,
                child_ref=c.child_ref,
                jurisdiction=c.jurisdiction,
                record=PersonalRecord.case_notes,
                fields=[PersonalField.notes],
                purpose=purpose,
            )
            for c in sorted(known, key=lambda c: c.case_id)
        ]
        n = t.notes.c
        sealed = (
            await work.tx.execute(
                select(t.notes)
                .where(n.case_id.in_(cases), n.about.in_(about))
                .order_by(n.written_at, n.note_id)
            )
        ).all()
    return Minutes(
        access_ids=accesses,
        purpose=purpose,
        meeting=meeting,
        notes=[
            MinutesNote(**WrittenNote.of(note).model_dump(), case_id=note.case_id)
            for note in (unseal(ctx.resources.cipher, row) for row in sealed)
        ],
    )


async def _item_reading(session, item_id: uuid.UUID, principal: Principal) -> Reading | None:
    """The department that owns an item reads what was asked and answered; the case's side, within its
    territory, too. Anyone else is refused (and the attempt recorded)."""
    i = t.action_items.c
    row = (
        await session.execute(
            select(i.case_id, i.agency, i.jurisdiction, t.cases.c.child_ref)
            .outerjoin(t.cases, t.cases.c.case_id == i.case_id)
            .where(i.id == item_id)
        )
    ).first()
    if row is None:
        return None
    refusal, entitled = addressed_to(principal, row.jurisdiction, row.agency, item_id)
    return Reading(
        case_id=row.case_id,
        child_ref=row.child_ref,
        jurisdiction=row.jurisdiction,
        refusal=refusal,
        action_item_id=entitled,
    )


@router.get(
    "/v1/action-items/{action_item_id}/notes",
    **notes_route(NO_SUCH_ITEM),
    summary="What a joint meeting asked of a department in an action item, and what it answered; the read "
    "on the access ledger first",
)
async def read_action_item_notes(
    action_item_id: uuid.UUID,
    purpose: Purpose,
    principal: Annotated[Principal, Depends(ItemNoteReaders)],
    ctx: Ctx,
) -> CaseNotes:
    async def load(session, reading: Reading):
        return reading.case_id, await sealed_notes(session, t.notes, reading.case_id, about=action_item_id)

    access_id, (case_id, sealed) = await read_case_notes(
        ctx,
        principal,
        purpose,
        find=lambda session: _item_reading(session, action_item_id, principal),
        load=load,
        not_found=NO_SUCH_ITEM,
    )
    return CaseNotes(
        case_id=case_id,
        access_id=access_id,
        purpose=purpose,
        notes=written_notes(ctx.resources.cipher, sealed),
    )
