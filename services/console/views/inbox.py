"""An agency's inbox: the referrals it still has to answer (overdue first), each acknowledged,
started, done or declined with a reason."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.navigation import INBOX
from services.console.pages import ConsoleDep, Person, act, call, checked_form, render, require_page
from shared.contracts.vocabulary import OPEN_REFERRAL_STATES

router = APIRouter()
# Why an agency declines a referral.
DECLINE_REASONS = ("not_our_duty", "wrong_agency", "already_handled")


@router.get(INBOX.path, response_class=HTMLResponse)
async def inbox(request: Request, console: ConsoleDep, person: Person,
                problem: str | None = None) -> Response:
    require_page(person, INBOX)
    referrals = await call(console, person, "referral", "GET", "/v1/referrals", params={"limit": 200})
    waiting = [r for r in referrals if r["state"] in OPEN_REFERRAL_STATES]
    return render(console, request, "inbox.html", person=person, referrals=waiting, problem=problem,
                  decline_reasons=DECLINE_REASONS)


@router.post(INBOX.path + "/{referral_id}")
async def answer_referral(request: Request, console: ConsoleDep, person: Person,
                          referral_id: uuid.UUID) -> Response:
    require_page(person, INBOX)
    form = await checked_form(request, person)
    action = form.get("action")
    body = {"action": action, **({"outcome": "successful"} if action == "complete" else {}),
            **({"reason": form.get("reason") or None} if action == "decline" else {})}
    return await act(console, person, INBOX.path, "referral", f"/v1/referrals/{referral_id}/responses", body)
