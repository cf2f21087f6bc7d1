"""A supervisor's pending requests (close, screen out, transfer), each approved or rejected with a
reason."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.navigation import APPROVALS
from services.console.pages import ConsoleDep, Person, act, call, checked_form, note_of, render, require_page

router = APIRouter()
# Why a supervisor turns a request down (a reason code is required to reject).
REJECTION_REASONS = ("needs_more_visits", "reason_not_shown", "not_for_this_territory")


@router.get(APPROVALS.path, response_class=HTMLResponse)
async def approvals_page(
    request: Request, console: ConsoleDep, person: Person, problem: str | None = None
) -> Response:
    require_page(person, APPROVALS)
    pending = await call(console, person, "casework", "GET", "/v1/approvals", params={"state": "pending"})
    return render(
        console,
        request,
        "approvals.html",
        person=person,
        approvals=pending,
        problem=problem,
        rejection_reasons=REJECTION_REASONS,
    )


@router.post(APPROVALS.path + "/{approval_id}")
async def decide_approval(
    request: Request, console: ConsoleDep, person: Person, approval_id: uuid.UUID
) -> Response:
    form = await checked_form(request, person)
    approve = form.get("approve") == "yes"
    body = {
        "approve": approve,
        "reason": None if approve else (form.get("reason") or None),
        "note": note_of(form),
    }
    return await act(
        console, person, APPROVALS.path, "casework", f"/v1/approvals/{approval_id}/decision", body
    )
