"""An agency's inbox: the referrals to the agency (overdue first, filtered and in pages), each with its
case's number and the child's age, sex and village; acknowledged or started with a note, done
(successful or not) or declined after a second page that asks to confirm."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.exports import MAX_ROWS
from services.console.navigation import INBOX
from services.console.pages import (
    ConsoleDep,
    Person,
    ServiceAnswer,
    act,
    call,
    checked_form,
    list_page,
    note_of,
    render,
    require_page,
)
from shared.contracts.vocabulary import OPEN_REFERRAL_STATES, AccessPurpose, ActionItemState, RiskLevel

router = APIRouter()
# Why an agency declines a referral.
DECLINE_REASONS = ("not_our_duty", "wrong_agency", "already_handled")
# Why an agency's work for a child did not succeed.
NOT_DONE_REASONS = ("child_not_found", "family_refused", "beyond_our_powers")
# The two answers that ask for more on a page of their own: done (how it went) and decline (confirmed).
SECOND_PAGES = ("complete", "decline")
PAGE_SIZE = 25


def inbox_query(*, show: str, overdue: bool, grade: str | None, number: str | None) -> dict[str, str]:
    """The inbox's filters as the referral API's query (and the page's own, to keep across pages)."""
    query = {"waiting": "true"} if show != "all" else {}
    return {
        **query,
        **({"overdue": "true"} if overdue else {}),
        **({"grade": grade} if grade else {}),
        **({"number": number} if number else {}),
    }


@dataclass(frozen=True)
class InboxFilters:
    """What the inbox lists (and its export takes away): waiting or all, overdue only, a grade, a number."""

    show: str
    overdue: bool
    grade: str | None
    number: str | None

    def query(self) -> dict[str, str]:
        return inbox_query(show=self.show, overdue=self.overdue, grade=self.grade, number=self.number)

    def page(self) -> dict[str, str]:
        """The filters as the page's own address keeps them across its pages."""
        return {
            "show": self.show,
            **({"overdue": "on"} if self.overdue else {}),
            **({"grade": self.grade} if self.grade else {}),
            **({"number": self.number} if self.number else {}),
        }


def inbox_filters(
    show: str = "waiting", overdue: bool = False, grade: str = "", number: str = ""
) -> InboxFilters:
    """The inbox's filters from its address; a grade that is not one is no filter."""
    return InboxFilters(
        show, overdue, grade if grade in RiskLevel.__members__ else None, number.strip() or None
    )


InboxFiltersDep = Annotated[InboxFilters, Depends(inbox_filters)]


@router.get(INBOX.path, response_class=HTMLResponse)
async def inbox(
    request: Request,
    console: ConsoleDep,
    person: Person,
    chosen: InboxFiltersDep,
    offset: int = Query(0, ge=0),
    problem: str | None = None,
) -> Response:
    require_page(person, INBOX)
    found = await list_page(
        console, person, "referral", "/v1/referrals", chosen.query(), offset=offset, size=PAGE_SIZE
    )
    referrals, total, problem = found.items, found.total, found.problem or problem
    # What joint meetings asked of the agency (督办事项), the overdue first: all of them still open.
    items = await list_page(
        console,
        person,
        "referral",
        "/v1/action-items",
        {"state": ActionItemState.open.value},
        offset=0,
        size=100,
    )
    lines = await _summaries(console, person, [r["case_id"] for r in referrals])
    filters = chosen.page()
    return render(
        console,
        request,
        "inbox.html",
        person=person,
        referrals=referrals,
        action_items=items.items,
        action_items_total=items.total,
        lines=lines,
        problem=problem,
        total=total,
        offset=offset,
        shown=len(referrals),
        filters=filters,
        keep=urlencode(filters),
        pages=found.pages,
        grades=list(RiskLevel),
        open_states=OPEN_REFERRAL_STATES,
        max_rows=MAX_ROWS,
    )


async def _summaries(console, person, case_ids: list[str]) -> dict[str, dict]:
    """The child's age, sex and village of each case, read for the agency's action (on the ledger);
    the inbox still lists its referrals when they cannot be read."""
    if not case_ids:
        return {}
    try:
        asked = {"case_ids": sorted(set(case_ids)), "purpose": AccessPurpose.protection_action}
        found = await call(console, person, "intake", "POST", "/v1/cases/summaries", json=asked)
    except ServiceAnswer:
        return {}
    return {line["case_id"]: line for line in found["cases"]}


@router.get(INBOX.path + "/{referral_id}/{action}", response_class=HTMLResponse)
async def second_page(
    request: Request,
    console: ConsoleDep,
    person: Person,
    referral_id: uuid.UUID,
    action: str,
    problem: str | None = None,
) -> Response:
    """Done asks how it went (and why, when it did not succeed); decline asks to confirm, with a reason."""
    require_page(person, INBOX)
    if action not in SECOND_PAGES:
        return Response(status_code=404)
    referral = await call(console, person, "referral", "GET", f"/v1/referrals/{referral_id}")
    if action not in referral["actions"] and problem is None:  # answered already: back to the inbox
        return RedirectResponse(INBOX.path, status_code=303)
    return render(
        console,
        request,
        "inbox_answer.html",
        person=person,
        referral=referral,
        action=action,
        problem=problem,
        decline_reasons=DECLINE_REASONS,
        not_done_reasons=NOT_DONE_REASONS,
    )


def answer_of(form) -> dict[str, str | None]:
    """The referral API's answer from the inbox's forms: the action, how it went, why, and a note."""
    action = form.get("action")
    body = {"action": action, "note": (form.get("note") or "").strip() or None}
    if action == "complete":
        body["outcome"] = form.get("outcome") or None
        body["reason"] = (form.get("reason") or None) if body["outcome"] == "not_successful" else None
    if action == "decline":
        body["reason"] = form.get("reason") or None
    return body


@router.post(INBOX.path + "/{referral_id}")
async def answer_referral(
    request: Request, console: ConsoleDep, person: Person, referral_id: uuid.UUID
) -> Response:
    require_page(person, INBOX)
    body = answer_of(await checked_form(request, person))
    refused_to = f"{INBOX.path}/{referral_id}/{body['action']}" if body["action"] in SECOND_PAGES else None
    return await act(
        console,
        person,
        INBOX.path,
        "referral",
        f"/v1/referrals/{referral_id}/responses",
        body,
        refused_to=refused_to,
    )


@router.post(INBOX.path + "/action-items/{action_item_id}/done")
async def action_item_done(
    request: Request, console: ConsoleDep, person: Person, action_item_id: uuid.UUID
) -> Response:
    """The agency marks what a joint meeting asked of it done, saying what it did."""
    require_page(person, INBOX)
    body = {"note": note_of(await checked_form(request, person))}
    path = f"/v1/action-items/{action_item_id}/done"
    return await act(console, person, INBOX.path, "referral", path, body)


@router.post(INBOX.path + "/action-items/{action_item_id}/asked", response_class=HTMLResponse)
async def action_item_asked(
    request: Request, console: ConsoleDep, person: Person, action_item_id: uuid.UUID
) -> Response:
    """What the meeting asked of the agency, and what it answered: a read of the case's notes, on the
    access ledger with the agency's purpose (a form, so that no link prefetch reads it)."""
    require_page(person, INBOX)
    await checked_form(request, person)
    path = f"/v1/action-items/{action_item_id}/notes"
    purpose = {"purpose": AccessPurpose.protection_action.value}
    found = await call(console, person, "referral", "GET", path, params=purpose)
    return render(console, request, "action_item_notes.html", person=person, notes=found["notes"])
