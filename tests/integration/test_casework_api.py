"""Casework's API in-process on the real stack, for what its answers promise of bad input: a forged
worklist cursor or a day past the calendar is a field named in a 422 or no bound at all, never a 500;
a case is assigned only to a caseworker the directory vouches for, of the case's territory."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.casework.handlers import on_case_events
from shared.auth import Role, directory_audience, issue_token
from shared.contracts.vocabulary import RiskLevel
from shared.settings import Settings
from tests.e2e.reports import token
from tests.integration.support import service_in_process
from tests.integration.test_casework_cases import RES, assessed, delivered, reported

SUPERVISOR = token(Role.supervisor, "sup-chengqu", jurisdiction="140402")


def _cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


@pytest.fixture(scope="module")
async def casework(infra) -> AsyncIterator[httpx.AsyncClient]:
    async with service_in_process(infra, "casework") as client:
        yield client


ANY_ID = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    "key",
    [
        f"9223372036854775808|2026-01-01T00:00:00+00:00|{ANY_ID}",  # past a smallint (and a bigint)
        f"40000|2026-01-01T00:00:00+00:00|{ANY_ID}",
        f"-1|2026-01-01T00:00:00+00:00|{ANY_ID}",
        f"1|2026-01-01T00:00:00|{ANY_ID}",  # a moment without its offset
        f"1|0001-01-01T00:00:00+14:00|{ANY_ID}",
        f"1|9999-12-31T23:59:59-14:00|{ANY_ID}",  # past the calendar
        "1|2026-01-01T00:00:00+00:00",
        "1|2026-01-01T00:00:00+00:00|not-a-uuid",
        "x|y|z",
    ],
)
async def test_a_forged_worklist_cursor_is_a_422_naming_after(casework: httpx.AsyncClient, key: str) -> None:
    answer = await casework.get("/v1/cases", params={"after": _cursor(key)}, headers=SUPERVISOR)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == [
        {"loc": ["query", "after"], "msg": "not a cursor this list gave", "type": "value_error"}
    ]


@pytest.mark.parametrize(
    "days",
    [
        {"received_from": "0001-01-01"},
        {"received_to": "9999-12-31"},
        {"received_from": "0001-01-01", "received_to": "9999-12-31"},
    ],
)
async def test_a_day_past_what_the_clock_holds_is_no_bound_not_a_500(
    casework: httpx.AsyncClient, days: dict
) -> None:
    answer = await casework.get("/v1/cases", params={**days, "totals": "true"}, headers=SUPERVISOR)
    assert answer.status_code == 200, answer.text


def _vouched(subject: str, role: str = "caseworker", jurisdiction: str = "140402", **claims) -> str:
    settings = Settings()
    return issue_token(
        settings,
        subject=subject,
        role=role,
        jurisdiction=jurisdiction,
        audience=claims.pop("audience", directory_audience(settings)),
        **claims,
    )


async def _case(infra) -> uuid.UUID:
    from sqlalchemy.ext.asyncio import create_async_engine

    case_id = uuid.uuid4()
    engine = create_async_engine(infra.database_url)
    async with engine.begin() as connection:
        events = delivered([reported(case_id), assessed(case_id, RiskLevel.red)])
        await on_case_events(connection, events, RES)
    await engine.dispose()
    return case_id


@pytest.mark.parametrize(
    ("caseworker", "vouched"),
    [
        ("u-nobody-at-all", None),
        ("u-nobody-at-all", "not.a.token"),
        ("cw-chengqu-1", _vouched("cw-someone-else")),
        ("po-chengqu-1", _vouched("po-chengqu-1", role="agency_officer", agency="police")),
        ("cw-luzhou-1", _vouched("cw-luzhou-1", jurisdiction="140403")),
        # a bearer token is not the directory's word
        ("cw-chengqu-1", _vouched("cw-chengqu-1", audience="cpnet")),
    ],
)
async def test_assignment_to_anyone_but_a_vouched_caseworker_of_the_territory_is_a_422_naming_caseworker(
    casework: httpx.AsyncClient, infra, caseworker: str, vouched: str | None
) -> None:
    case_id = await _case(infra)
    body = {"caseworker": caseworker, **({"caseworker_token": vouched} if vouched else {})}
    answer = await casework.post(f"/v1/cases/{case_id}/assignment", json=body, headers=SUPERVISOR)
    assert answer.status_code == 422, answer.text
    assert [problem["loc"] for problem in answer.json()["detail"]] == [["body", "caseworker"]]
    case = (await casework.get(f"/v1/cases/{case_id}", headers=SUPERVISOR)).json()
    assert case["owner"]["caseworker"] is None, "the case stays on the unassigned list"


async def test_assignment_to_a_vouched_caseworker_of_the_territory_names_the_owner(
    casework: httpx.AsyncClient, infra
) -> None:
    case_id = await _case(infra)
    vouched = _vouched("cw-chengqu-1", jurisdiction="140402001")  # a township's caseworker, of the village
    body = {"caseworker": "cw-chengqu-1", "caseworker_token": vouched}
    answer = await casework.post(f"/v1/cases/{case_id}/assignment", json=body, headers=SUPERVISOR)
    assert answer.status_code == 200, answer.text
    assert answer.json()["owner"]["caseworker"] == "cw-chengqu-1"
