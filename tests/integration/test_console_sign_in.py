"""Signing in to the console, against the real PostgreSQL: a wrong password is an error on the
form, a form without its CSRF token is a 403 (so is a cookie planted with a token of the planter's
choosing, and a form posted from a sibling site), a page without a live session (none, idle too
long, signed out, its person disabled) sends the person to sign in, after five wrong passwords an
account waits a little before it takes another — answered exactly as an unknown name is — the 21st
attempt from one address within a minute is a 429 before any password is hashed, the way back after
signing in is a page of the console whatever `next` says, and the session cookie is HTTP-only and
SameSite. The people are added as `cpnet users` adds them, and weak passwords are refused there."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.registry import upgrade
from services.console import tables as t
from services.console import users
from services.console.accounts import DEMO_PASSWORD, MAX_FAILURES
from services.console.app import SESSION_COOKIE, build_console
from services.console.sign_in_guards import SignInThrottle
from services.console.users import UserError, add_user, disable_user, reset_password
from services.console.views.sign_in import SIGN_IN_CSRF_COOKIE
from shared.settings import Settings

PASSWORD = "a long enough password 42"


@pytest.fixture
async def person(infra) -> str:
    """A caseworker of the county, added to the console's schema; their username."""
    await asyncio.to_thread(upgrade, "console", infra.database_url)
    username = f"cw-{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(infra.database_url)
    async with engine.begin() as connection:
        await add_user(
            connection,
            username,
            PASSWORD,
            role="caseworker",
            agency=None,
            jurisdiction="140402",
            now=datetime.now(UTC),
        )
    await engine.dispose()
    return username


async def _change(infra, action) -> None:
    engine = create_async_engine(infra.database_url)
    async with engine.begin() as connection:
        await action(connection)
    await engine.dispose()


@pytest.fixture
def console(infra) -> TestClient:
    with TestClient(
        build_console(Settings(database_url=infra.database_url)),
        base_url="http://console.test",
        follow_redirects=False,
    ) as client:
        yield client


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def _sign_in(console: TestClient, username: str, password: str, **headers: str):
    form = console.get("/sign-in", headers=headers)
    return console.post(
        "/sign-in",
        headers=headers,
        data={
            "username": username,
            "password": password,
            "csrf_token": _csrf(form.text),
            "next": "/cases?x=1",
        },
    )


def test_a_page_without_a_session_sends_the_person_to_sign_in_and_back(console: TestClient) -> None:
    answer = console.get("/?owner=me")
    assert answer.status_code == 303 and answer.headers["location"] == "/sign-in?next=%2F%3Fowner%3Dme"
    form = console.get(answer.headers["location"])
    assert form.status_code == 200 and 'name="next" value="/?owner=me"' in form.text
    assert '<label for="username">' in form.text and '<label for="password">' in form.text


def test_a_wrong_password_is_an_error_on_the_form_in_the_persons_language(
    console: TestClient, person: str
) -> None:
    chinese = _sign_in(console, person, "not the password at all")
    assert chinese.status_code == 401 and "用户名或密码错误" in chinese.text
    assert SESSION_COOKIE not in chinese.cookies
    english = _sign_in(console, person, "not the password at all", **{"Accept-Language": "en-GB,en;q=0.9"})
    assert english.status_code == 401 and "The username or password is wrong." in english.text
    nobody = _sign_in(console, "nobody-" + person, PASSWORD, **{"Accept-Language": "en"})
    assert nobody.status_code == 401 and "The username or password is wrong." in nobody.text, (
        "an unknown username is answered like a wrong password"
    )


def test_the_right_password_opens_an_http_only_same_site_session(console: TestClient, person: str) -> None:
    answer = _sign_in(console, person.upper() + " ", PASSWORD)  # typed in capitals, with a space
    assert answer.status_code == 303 and answer.headers["location"] == "/cases?x=1"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie


def test_a_form_without_its_csrf_token_is_refused(console: TestClient, person: str) -> None:
    console.get("/sign-in")
    refused = console.post("/sign-in", data={"username": person, "password": PASSWORD})
    assert refused.status_code == 403
    forged = console.post("/sign-in", data={"username": person, "password": PASSWORD, "csrf_token": "guess"})
    assert forged.status_code == 403
    assert _sign_in(console, person, PASSWORD).status_code == 303
    assert console.post("/sign-out").status_code == 403, "signing out is a form of the session too"
    assert console.post("/sign-out", data={"csrf_token": "guess"}).status_code == 403


async def test_signing_out_ends_the_session(console: TestClient, person: str, infra) -> None:
    signed_in = _sign_in(console, person, PASSWORD)
    token = signed_in.cookies[SESSION_COOKIE]
    engine = create_async_engine(infra.database_url)
    async with engine.connect() as connection:
        csrf = (
            await connection.execute(
                text(
                    "SELECT csrf_token FROM console.sessions s JOIN console.users u "
                    "USING (user_id) WHERE u.username = :u"
                ),
                {"u": person},
            )
        ).scalar_one()
    await engine.dispose()
    out = console.post("/sign-out", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    console.cookies.set(SESSION_COOKIE, token)  # the old cookie, replayed
    assert console.get("/").status_code == 303


async def test_an_idle_session_and_a_disabled_persons_session_send_to_sign_in(
    console: TestClient, person: str, infra
) -> None:
    _sign_in(console, person, PASSWORD)
    await _change(
        infra,
        lambda c: c.execute(
            update(t.sessions).values(last_seen_at=datetime.now(UTC) - timedelta(minutes=31))
        ),
    )
    assert console.get("/").status_code == 303, "idle for more than 30 minutes"
    _sign_in(console, person, PASSWORD)
    await _change(infra, lambda c: disable_user(c, person))
    assert console.get("/").status_code == 303
    assert _sign_in(console, person, PASSWORD).status_code == 401, "a disabled person cannot sign in"


WRONG = "The username or password is wrong."


def _alert(answer) -> str:
    return re.search(r'role="alert">\s*(.*?)\s*</p>', answer.text, re.S)[1]


async def test_five_wrong_passwords_make_the_account_wait_until_an_administrator_resets_it(
    console: TestClient, person: str, infra
) -> None:
    for _ in range(MAX_FAILURES):
        assert _sign_in(console, person, "wrong wrong wrong").status_code == 401
    waiting = _sign_in(console, person, PASSWORD, **{"Accept-Language": "en"})
    assert waiting.status_code == 401 and WRONG in waiting.text, (
        "the right password does not pass a wait early"
    )
    await _change(
        infra, lambda c: reset_password(c, person, "another long password 7", now=datetime.now(UTC))
    )
    assert _sign_in(console, person, "another long password 7").status_code == 303


async def test_an_unknown_name_a_wrong_password_a_waiting_and_a_disabled_account_are_answered_alike(
    console: TestClient, person: str, infra, monkeypatch
) -> None:
    """Enumeration: the same status, the same words and the same work (one argon2 verification)."""
    hashed = []
    verify = users._verify
    monkeypatch.setattr(users, "_verify", lambda *args: hashed.append(1) or verify(*args))
    answers = {}
    for _ in range(MAX_FAILURES + 1):
        answers["wrong"] = _sign_in(console, person, "wrong wrong wrong", **{"Accept-Language": "en"})
    hashed.clear()
    answers["waiting"] = _sign_in(console, person, PASSWORD, **{"Accept-Language": "en"})
    answers["unknown"] = _sign_in(console, "nobody-" + person, PASSWORD, **{"Accept-Language": "en"})
    await _change(infra, lambda c: disable_user(c, person))
    await _change(
        infra,
        lambda c: c.execute(update(t.users).where(t.users.c.username == person).values(locked_until=None)),
    )
    answers["disabled"] = _sign_in(console, person, PASSWORD, **{"Accept-Language": "en"})
    assert {name: (answer.status_code, _alert(answer)) for name, answer in answers.items()} == {
        name: (401, _alert(answers["unknown"])) for name in answers
    }
    assert _alert(answers["unknown"]).startswith(WRONG)
    assert hashed == [1, 1, 1], "the waiting, the unknown and the disabled each cost one verification"


def _still_clock(console: TestClient) -> None:
    """The throttle's clock held still: every attempt of the test falls within one instant (argon2
    takes a tenth of a second an attempt, and the buckets refill meanwhile)."""
    state = console.app.state.console
    state.sign_in_throttle = SignInThrottle.from_settings(state.settings, clock=lambda: 0.0)


def test_the_twenty_first_sign_in_from_one_address_within_a_minute_is_refused_before_any_hashing(
    console: TestClient, person: str, monkeypatch
) -> None:
    _still_clock(console)
    hashed = []
    verify = users._verify
    monkeypatch.setattr(users, "_verify", lambda *args: hashed.append(1) or verify(*args))
    for n in range(20):
        assert _sign_in(console, f"nobody-{n}-{person}", PASSWORD).status_code == 401
    assert len(hashed) == 20
    refused = _sign_in(console, person, PASSWORD, **{"Accept-Language": "en"})
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    assert re.search(r"Too many sign-in attempts\. Wait \d+ seconds, then try again\.", _alert(refused))
    assert SESSION_COOKIE not in refused.cookies and len(hashed) == 20, "no password hashed for it"
    chinese = _sign_in(console, person, PASSWORD, **{"Accept-Language": "zh-CN"})
    assert chinese.status_code == 429 and "登录尝试次数过多" in chinese.text


def test_the_eleventh_sign_in_on_one_account_within_a_minute_is_refused_whatever_its_spelling(
    console: TestClient, person: str
) -> None:
    _still_clock(console)
    for n in range(10):
        spelt = person.upper() if n % 2 else f" {person} "
        assert _sign_in(console, spelt, "wrong wrong wrong").status_code == 401
    assert _sign_in(console, person, PASSWORD).status_code == 429


def test_a_planted_sign_in_cookie_with_a_token_of_the_planters_choosing_is_refused(
    console: TestClient, person: str
) -> None:
    console.cookies.set(SIGN_IN_CSRF_COOKIE, "chosen-by-the-attacker", domain="console.test")
    planted = console.post(
        "/sign-in", data={"username": person, "password": PASSWORD, "csrf_token": "chosen-by-the-attacker"}
    )
    assert planted.status_code == 403 and SESSION_COOKIE not in planted.cookies
    form = console.get("/sign-in")
    minted = console.post(
        "/sign-in",
        headers={"Sec-Fetch-Site": "same-site"},
        data={"username": person, "password": PASSWORD, "csrf_token": _csrf(form.text)},
    )
    assert minted.status_code == 403, "a sibling site's form, even with a pair the console minted"
    assert _sign_in(console, person, PASSWORD, **{"Sec-Fetch-Site": "same-origin"}).status_code == 303


@pytest.mark.parametrize(
    "next_page",
    [
        "/%5Ccross.test:8765/phish",
        "/\\cross.test",
        "/\tx/host",
        "/\t/host",
        "//evil.example",
        "https://evil.example/",
        "/%09/evil.example",
        "/" + "a" * 3000,
    ],
)
def test_the_way_back_after_signing_in_is_a_page_of_the_console(
    console: TestClient, person: str, next_page: str
) -> None:
    form = console.get("/sign-in", params={"next": next_page})
    assert 'name="next" value="/"' in form.text, "the form carries no other way back"
    posted = next_page if len(next_page) <= 2000 else "/"  # what a forged form could post instead
    answer = console.post(
        "/sign-in",
        data={"username": person, "password": PASSWORD, "csrf_token": _csrf(form.text), "next": posted},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"


@pytest.mark.parametrize("password", ["passwordpassword", "aaaaaaaaaaaa", DEMO_PASSWORD])
async def test_a_weak_or_public_password_is_refused_when_a_person_is_added_or_reset(
    infra, person: str, password: str
) -> None:
    with pytest.raises(UserError, match="password"):
        await _change(
            infra,
            lambda c: add_user(
                c,
                f"new-{person}",
                password,
                role="caseworker",
                agency=None,
                jurisdiction="140402",
                now=datetime.now(UTC),
            ),
        )
    with pytest.raises(UserError, match="password"):
        await _change(infra, lambda c: reset_password(c, person, password, now=datetime.now(UTC)))


def test_a_bad_address_is_a_page_in_words_not_json(console: TestClient, person: str) -> None:
    assert _sign_in(console, person, PASSWORD).status_code == 303
    bad = console.get("/cases/not-a-case-number", headers={"Accept-Language": "en"})
    assert (
        bad.status_code == 422
        and "Not a page of the console" in bad.text
        and "{" not in bad.text.split("<")[0]
    )
    missing = console.get("/no-such-page", headers={"Accept-Language": "zh-CN"})
    assert missing.status_code == 404 and "未找到" in missing.text
