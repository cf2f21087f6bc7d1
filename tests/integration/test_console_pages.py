"""The console's addresses, against the real PostgreSQL: each person lands on the page of their
work, the board's old address goes on to the board with its worklist, the language switch comes
back to the very page and query it was pressed on (never to another site) and takes the CSRF token
like every form, the header's own refresh does not keep an idle session alive, and the header's
search box takes a reporter's phone to the search by phone, whose cases are links by their numbers."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.registry import upgrade
from services.console import tables as t
from services.console.app import build_console
from services.console.pages import LANGUAGE_COOKIE
from services.console.users import add_user
from shared.settings import Settings

PASSWORD = "a long enough password 42"


@pytest.fixture
def console(infra) -> TestClient:
    upgrade("console", infra.database_url)
    with TestClient(
        build_console(Settings(database_url=infra.database_url)),
        base_url="http://console.test",
        follow_redirects=False,
    ) as client:
        yield client


async def _add(infra, role: str, jurisdiction: str, agency: str | None = None) -> str:
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(infra.database_url)
    async with engine.begin() as connection:
        await add_user(
            connection,
            username,
            PASSWORD,
            role=role,
            agency=agency,
            jurisdiction=jurisdiction,
            now=datetime.now(UTC),
        )
    await engine.dispose()
    return username


def _form_token(console: TestClient, page: str = "/sign-in") -> str:
    """The CSRF token a page's forms carry (the sign-in form's, or the session's)."""
    return re.search(r'name="csrf_token" value="([^"]+)"', console.get(page).text)[1]


def _sign_in(console: TestClient, username: str) -> None:
    answer = console.post(
        "/sign-in", data={"username": username, "password": PASSWORD, "csrf_token": _form_token(console)}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"


@pytest.mark.parametrize(
    ("role", "jurisdiction", "agency", "home"),
    [
        ("hotline", "", None, "/report"),
        ("caseworker", "140402", None, "/board?owner=me"),
        ("supervisor", "140402", None, "/board"),
        ("supervisor", "1404", None, "/dashboard"),
        ("agency_officer", "140402", "police", "/inbox"),
        ("auditor", "", None, "/access"),
    ],
)
async def test_each_person_lands_on_the_page_of_their_work(
    console: TestClient, infra, role, jurisdiction, agency, home
) -> None:
    _sign_in(console, await _add(infra, role, jurisdiction, agency))
    answer = console.get("/")
    assert answer.status_code == 303 and answer.headers["location"] == home


async def test_the_boards_old_address_goes_on_to_the_board_with_its_worklist(
    console: TestClient, infra
) -> None:
    _sign_in(console, await _add(infra, "supervisor", "140402"))
    answer = console.get("/?owner=unassigned&grade=red")
    assert answer.status_code == 303 and answer.headers["location"] == "/board?owner=unassigned&grade=red"


@pytest.mark.parametrize(
    ("page", "back"),
    [
        ("/board?owner=me&grade=red", "/board?owner=me&grade=red"),
        (
            "/cases/8c7f4d5e-1111-4b2a-9c3d-000000000001/child?purpose=assessment",
            "/cases/8c7f4d5e-1111-4b2a-9c3d-000000000001/child?purpose=assessment",
        ),
        ("//evil.example/board", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
    ],
)
def test_the_language_switch_comes_back_to_the_page_and_its_query(
    console: TestClient, page: str, back: str
) -> None:
    answer = console.post(
        "/language", data={"locale": "en", "next": page, "csrf_token": _form_token(console)}
    )
    assert answer.status_code == 303 and answer.headers["location"] == back
    assert answer.cookies[LANGUAGE_COOKIE] == "en"


async def test_the_language_switch_takes_the_csrf_token_like_every_other_form(
    console: TestClient, infra
) -> None:
    switch = {"locale": "en", "next": "/board"}
    assert console.post("/language", data=switch).status_code == 403, "a form without its token"
    assert console.post("/language", data={**switch, "csrf_token": "guess"}).status_code == 403
    assert LANGUAGE_COOKIE not in console.cookies
    # Before sign-in, the sign-in form's token (bound to its cookie); after, the session's.
    assert console.post("/language", data={**switch, "csrf_token": _form_token(console)}).status_code == 303
    _sign_in(console, await _add(infra, "hotline", ""))
    session_token = _form_token(console, "/report")
    assert console.post("/language", data={**switch, "csrf_token": "guess"}).status_code == 403
    assert console.post("/language", data={**switch, "csrf_token": session_token}).status_code == 303


async def test_the_language_form_carries_the_page_with_its_query(console: TestClient, infra) -> None:
    _sign_in(console, await _add(infra, "hotline", ""))
    page = console.get("/report?from=header")  # any page with a query: the form names it whole
    assert page.status_code == 200
    assert 'value="/report?from=header"' in page.text


async def test_the_headers_refresh_does_not_keep_an_idle_session_alive(console: TestClient, infra) -> None:
    username = await _add(infra, "hotline", "")
    _sign_in(console, username)
    engine = create_async_engine(infra.database_url)
    earlier = datetime.now(UTC) - timedelta(minutes=20)
    async with engine.begin() as connection:
        whose = select(t.users.c.user_id).where(t.users.c.username == username)
        user_id = (await connection.execute(whose)).scalar()
        await connection.execute(
            update(t.sessions).where(t.sessions.c.user_id == user_id).values(last_seen_at=earlier)
        )
    # A hotline operator has no counts: the refresh is told to stop (htmx's 286), and notes no use.
    assert console.get("/waiting").status_code == 286
    async with engine.connect() as connection:
        seen = (
            await connection.execute(select(t.sessions.c.last_seen_at).where(t.sessions.c.user_id == user_id))
        ).scalar()
    await engine.dispose()
    assert abs(seen - earlier) < timedelta(seconds=1), "the refresh is not the person's use"
    console.cookies.clear()
    assert console.get("/waiting").status_code == 286, "no session: nothing to count, and no sign-in page"


async def test_the_search_box_takes_a_phone_to_the_search_by_phone_and_its_cases_are_links(
    console: TestClient, infra
) -> None:
    _sign_in(console, await _add(infra, "caseworker", "140402"))
    header = console.get("/report")
    assert "个案编号、身份证号、姓名或报告人电话" in header.text
    found = console.get("/find", params={"q": " 138 0013  8000 "})
    assert found.status_code == 303
    assert found.headers["location"] == "/children/search?reporter_phone=138+0013+8000"
    page = console.get(found.headers["location"])
    assert re.search(r'<label for="reporter_phone">报告人电话', page.text)
    assert re.search(r'id="reporter_phone" name="reporter_phone" type="tel" value="138 0013 8000"', page.text)

    # Intake's answers, as its child search gives them (tests/e2e/test_child_search.py proves those).
    asked = []
    cases = [
        {
            "child_ref": str(uuid.uuid4()),
            "case_id": str(uuid.uuid4()),
            "case_number": number,
            "jurisdiction": "140402001001",
            "access_id": str(uuid.uuid4()),
        }
        for number in ("140402-2026-00042", "140402-2025-00007")
    ]

    def intake(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        asked.append(body)
        if body["reporter_phone"] == "12345":
            problem = {
                "loc": ["body", "reporter_phone"],
                "type": "value_error",
                "msg": "Value error, not a phone number: 7 to 15 digits",
            }
            return httpx.Response(422, json={"detail": [problem]})
        return httpx.Response(200, json={"matches": cases})

    console.app.state.console.http = fake = httpx.AsyncClient(transport=httpx.MockTransport(intake))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
    form = {"csrf_token": csrf, "purpose": "investigation", "reporter_phone": "138 0013 8000"}
    answer = console.post("/children/search", data=form)
    assert answer.status_code == 200
    assert asked[-1] == {
        "purpose": "investigation",
        "national_id": None,
        "name": None,
        "birth_date": None,
        "jurisdiction": None,
        "reporter_phone": "138 0013 8000",
    }
    assert "用此电话报告的个案：" in answer.text
    for case in cases:
        assert f'<a href="/cases/{case["case_id"]}">{case["case_number"]}</a>' in answer.text
    refused = console.post("/children/search", data={**form, "reporter_phone": "12345"})
    assert refused.status_code == 422
    assert re.search(r'<p class="error" id="reporter_phone-error">这不是电话号码', refused.text)
    await fake.aclose()
