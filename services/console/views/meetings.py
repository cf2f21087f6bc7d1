"""Joint meetings (联席会议) in the console, for a county's or the city's supervisors: record a meeting of
the departments and who took part; on its page, the agenda the record proposes (audit's: cases with a
declined or long-overdue referral, red cases without a plan or a delivered service), a decision for each
case discussed with what was said, action items (督办事项) for departments with a task and a day due —
each then in that department's inbox — and the minutes as a PDF in the reader's language."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.bulletins import Paper, full_name
from services.console.i18n import Language
from services.console.navigation import MEETINGS
from services.console.pages import (
    ConsoleDep,
    Person,
    ServiceAnswer,
    act,
    call,
    checked_form,
    language_of,
    list_page,
    note_of,
    render,
    require_page,
)
from services.console.views.bulletins import own_node
from shared.contracts.vocabulary import (
    CHINA_STANDARD_TIME,
    AccessPurpose,
    ActionTask,
    Agency,
    MeetingDecision,
)
from shared.territory.code import CONVENING_LEVELS, TerritoryLevel

router = APIRouter()
PAGE_SIZE = 20
# Why a supervisor reads the minutes' notes: the meeting is part of supervising the casework.
MINUTES_PURPOSE = AccessPurpose.supervision


def _convening_nodes(console, person) -> list[str]:
    """Where the person may convene: their own node if a county's or the city's, and for a city's
    supervisor each county below it."""
    own = own_node(console, person)
    if own is None or console.territory.node(own).level not in CONVENING_LEVELS:
        return []  # a township's supervisors take part; the county convenes
    node = console.territory.node(own)
    below = (
        [child.code for child in console.territory.children(own)]
        if node.level in (TerritoryLevel.province, TerritoryLevel.city)
        else []
    )
    return [own, *below]


def _today() -> str:
    return datetime.now(CHINA_STANDARD_TIME).date().isoformat()


@router.get(MEETINGS.path, response_class=HTMLResponse)
async def meetings(
    request: Request,
    console: ConsoleDep,
    person: Person,
    offset: int = Query(0, ge=0),
    problem: str | None = None,
) -> Response:
    require_page(person, MEETINGS)
    lang = language_of(console, request)
    found = await list_page(console, person, "referral", "/v1/meetings", {}, offset=offset, size=PAGE_SIZE)
    return render(
        console,
        request,
        "meetings.html",
        person=person,
        meetings=found.items,
        total=found.total,
        offset=offset,
        shown=len(found.items),
        pages=found.pages,
        problem=found.problem or problem,
        nodes=[
            (code, console.territory.node(code).name(lang.html_lang))
            for code in _convening_nodes(console, person)
        ],
        agencies=list(Agency),
        today=_today(),
    )


@router.post(MEETINGS.path)
async def convene(request: Request, console: ConsoleDep, person: Person) -> Response:
    require_page(person, MEETINGS)
    form = await checked_form(request, person)
    body = {
        "jurisdiction": form.get("jurisdiction"),
        "held_on": form.get("held_on") or None,
        "present": form.getlist("present"),
    }
    try:
        made = await call(console, person, "referral", "POST", "/v1/meetings", json=body)
    except ServiceAnswer as exc:
        if exc.status_code not in (404, 409, 422):
            raise
        return RedirectResponse(f"{MEETINGS.path}?problem=invalid", status_code=303)
    return RedirectResponse(f"{MEETINGS.path}/{made['meeting_id']}", status_code=303)


async def _agenda(console, person, meeting: dict) -> list[dict]:
    """The cases the record proposes, those the meeting decided on already left out."""
    try:
        proposed = await call(console, person, "audit", "GET", f"/v1/agenda/{meeting['jurisdiction']}")
    except ServiceAnswer:
        return []
    decided = {c["case_id"] for c in meeting["cases"]}
    return [p for p in proposed if p["case_id"] not in decided]


@router.get(MEETINGS.path + "/{meeting_id}", response_class=HTMLResponse)
async def meeting_page(
    request: Request, console: ConsoleDep, person: Person, meeting_id: uuid.UUID, problem: str | None = None
) -> Response:
    require_page(person, MEETINGS)
    meeting = await call(console, person, "referral", "GET", f"/v1/meetings/{meeting_id}")
    return render(
        console,
        request,
        "meeting.html",
        person=person,
        meeting=meeting,
        agenda=await _agenda(console, person, meeting),
        problem=problem,
        agencies=list(Agency),
        decisions=list(MeetingDecision),
        tasks=list(ActionTask),
        today=_today(),
    )


@router.post(MEETINGS.path + "/{meeting_id}/attendance")
async def attendance(
    request: Request, console: ConsoleDep, person: Person, meeting_id: uuid.UUID
) -> Response:
    require_page(person, MEETINGS)
    form = await checked_form(request, person)
    here = f"{MEETINGS.path}/{meeting_id}"
    path = f"/v1/meetings/{meeting_id}/attendance"
    return await act(console, person, here, "referral", path, {"present": form.getlist("present")})


@router.post(MEETINGS.path + "/{meeting_id}/decisions")
async def decision(request: Request, console: ConsoleDep, person: Person, meeting_id: uuid.UUID) -> Response:
    require_page(person, MEETINGS)
    form = await checked_form(request, person)
    named = (
        {"case_id": form.get("case_id")}
        if form.get("case_id")
        else {"case_number": str(form.get("case_number") or "").strip() or None}
    )
    body = {**named, "decision": form.get("decision"), "note": note_of(form)}
    here = f"{MEETINGS.path}/{meeting_id}"
    return await act(console, person, here, "referral", f"/v1/meetings/{meeting_id}/decisions", body)


@router.post(MEETINGS.path + "/{meeting_id}/action-items")
async def action_item(
    request: Request, console: ConsoleDep, person: Person, meeting_id: uuid.UUID
) -> Response:
    require_page(person, MEETINGS)
    form = await checked_form(request, person)
    body = {
        "case_id": form.get("case_id"),
        "agency": form.get("agency"),
        "task": form.get("task"),
        "due_on": form.get("due_on") or None,
        "note": note_of(form),
    }
    here = f"{MEETINGS.path}/{meeting_id}"
    return await act(console, person, here, "referral", f"/v1/meetings/{meeting_id}/action-items", body)


@router.get(MEETINGS.path + "/{meeting_id}/minutes.pdf")
async def minutes_file(
    request: Request, console: ConsoleDep, person: Person, meeting_id: uuid.UUID
) -> Response:
    """The minutes, in the person's language: its notes read once each case's read is on the ledger."""
    require_page(person, MEETINGS)
    lang = language_of(console, request)
    minutes = await call(
        console,
        person,
        "referral",
        "GET",
        f"/v1/meetings/{meeting_id}/minutes",
        params={"purpose": MINUTES_PURPOSE.value},
    )
    body = minutes_pdf(lang, minutes)
    name = f"minutes-{minutes['meeting']['held_on']}-{lang.html_lang}.pdf"
    return Response(
        body, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def minutes_pdf(lang: Language, minutes: dict) -> bytes:
    """Who met, where and when; each case discussed with its decision and what was said; each action item
    with its department, task, day due and where it stands, and what was asked and answered."""
    _ = lang.gettext
    meeting = minutes["meeting"]
    said: dict[tuple[str, str], list[dict]] = {}
    for note in minutes["notes"]:
        said.setdefault((note["about"], note["case_id"]), []).append(note)
    place, day = full_name(lang, meeting["jurisdiction"]), lang.day(meeting["held_on"])
    heading = _("minutes:title").format(place=place, day=day)
    doc = Paper(lang, heading, orientation="portrait")
    doc.add_page()

    def line(text: str, size: int = 10, style: str = "") -> None:
        doc.set_font("cjk", style, size=size)
        doc.multi_cell(0, size * 0.6, text, new_x="LMARGIN", new_y="NEXT")

    line(heading, size=16)
    line(_("minutes:present").format(agencies=lang.labels("agency", meeting["present"])))
    doc.ln(3)
    for case in meeting["cases"]:
        number = case["case_number"] or _("Not numbered yet")
        decision = lang.label("meeting_decision", case["decision"])
        line(_("minutes:case").format(number=number, decision=decision), size=11, style="B")
        for note in said.get((meeting["meeting_id"], case["case_id"]), []):
            line(note["text"])
        for item in (i for i in meeting["action_items"] if i["case_id"] == case["case_id"]):
            line(
                "· "
                + _("minutes:item").format(
                    agency=lang.label("agency", item["agency"]),
                    task=lang.label("action_task", item["task"]),
                    day=lang.day(item["due_on"]),
                    state=lang.label("action_item_state", item["state"]),
                )
            )
            for note in said.get((item["action_item_id"], case["case_id"]), []):
                line(f"   {lang.label('note_action', note['action'])}{_(': ')}{note['text']}")
        doc.ln(2)
    if not meeting["cases"]:
        line(_("minutes:nothing"))
    return bytes(doc.output())
