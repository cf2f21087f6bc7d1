"""A case's identification links, undone: the page that asks a supervisor to confirm (why, and a note)
before a link is undone, and the undo posted on to intake, which decides and refuses what it must."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.form_errors import field_errors
from services.console.pages import Console, ConsoleDep, Person, act, call, checked_form, note_of, render
from services.console.users import SignedIn, usernames_of
from shared.contracts.vocabulary import LinkUndoReason

router = APIRouter(prefix="/cases/{case_id}/links/{link_id}")
UNDO_FIELDS = {("reason",): "reason", ("note",): "note"}  # intake's field → the confirmation form's


@router.get("/undo", response_class=HTMLResponse)
async def confirm_undo(
    request: Request,
    console: ConsoleDep,
    person: Person,
    case_id: uuid.UUID,
    link_id: uuid.UUID,
    problem: str | None = None,
) -> Response:
    """Undo this link? The link as the case lists it, why it is undone and a note; only while intake
    offers this person its undo (else back to the case, where the link is shown as it stands)."""
    return await _confirmation(request, console, person, case_id, link_id, problem=problem)


async def _confirmation(
    request: Request,
    console: Console,
    person: SignedIn,
    case_id: uuid.UUID,
    link_id: uuid.UUID,
    *,
    problem: str | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
    links = await call(console, person, "intake", "GET", f"/v1/cases/{case_id}/links")
    link = next((entry for entry in links if entry["link_id"] == str(link_id)), None)
    if link is None:
        raise HTTPException(status_code=404, detail="no such link of this case")
    if "undo" not in link["actions"]:  # undone meanwhile, or not this person's: the case shows it as it is
        said = f"?{urlencode({'problem': problem})}" if problem else ""
        return RedirectResponse(f"/cases/{case_id}{said}", status_code=303)
    async with console.engine.connect() as connection:
        names = await usernames_of(connection, [link["linked_by"]])
    return render(
        console,
        request,
        "link_undo.html",
        status_code=status_code,
        person=person,
        case=case,
        link=link,
        names=names,
        problem=problem,
        undo_reasons=list(LinkUndoReason),
        errors=errors or {},
        values=typed or {},
    )


@router.post("/undo")
async def undo(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID, link_id: uuid.UUID
) -> Response:
    """Confirmed: intake undoes the link (both children and both cases as they were), then back to the
    case; a refusal is said on the confirmation page, a mistake beside its field with what was typed."""
    form = await checked_form(request, person)
    body = {"reason": form.get("reason") or None, "note": note_of(form)}

    async def mistakes(detail: Any) -> Response | None:
        errors = field_errors(detail, UNDO_FIELDS)
        if not errors or "form" in errors:
            return None
        typed = {name: str(form.get(name) or "") for name in ("reason", "note")}
        return await _confirmation(
            request, console, person, case_id, link_id, errors=errors, typed=typed, status_code=422
        )

    return await act(
        console,
        person,
        case_id,
        "intake",
        f"/v1/children/links/{link_id}/undo",
        body,
        refused_to=f"/cases/{case_id}/links/{link_id}/undo",
        invalid=mistakes,
    )
