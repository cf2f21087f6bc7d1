"""Finding a case by its number in casework's worklist (`GET /v1/cases?number=`), on the real database:
the number exactly, open or closed, only within the caller's territory; a malformed number is a 422
naming `number`."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from services.casework import tables as t
from services.casework.api import Readers, router
from services.casework.handlers import on_case_events
from shared.auth import Principal, Role
from shared.case_number import CaseNumberParts
from shared.http import install_error_handlers
from shared.service import service_context
from tests.integration.test_casework_cases import RES, delivered, engine, reported  # noqa: F401 (a fixture)


def a_number(county: str = "140402") -> str:
    return str(CaseNumberParts(county, 2026, random.randint(1, 999_999_999)))


@pytest.fixture
async def client(engine) -> AsyncIterator[tuple[httpx.AsyncClient, dict]]:
    """The worklist as a supervisor of `caller["territory"]` sees it."""
    app = FastAPI()
    app.include_router(router)
    install_error_handlers(app)
    caller = {"territory": "140402"}
    context = SimpleNamespace(engine=engine, resources=RES)
    app.dependency_overrides[service_context] = lambda: context
    app.dependency_overrides[Readers] = lambda: Principal(
        subject="sup-1", role=Role.supervisor, jurisdiction=caller["territory"]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://casework") as http:
        yield http, caller


async def test_a_case_is_found_by_its_number_open_or_closed_in_the_caller_s_territory(engine, client) -> None:
    http, caller = client
    open_case, closed_case, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    numbers = {open_case: a_number(), closed_case: a_number(), other: a_number()}
    events = [reported(case_id).model_copy(update={"case_number": numbers[case_id]}) for case_id in numbers]
    async with engine.begin() as connection:
        await on_case_events(connection, delivered(events), RES)
        closed = update(t.cases).where(t.cases.c.case_id == closed_case).values(state="closed")
        await connection.execute(closed)

    async def found(number: str, **params) -> list[uuid.UUID]:
        answer = await http.get("/v1/cases", params={"number": number, **params})
        assert answer.status_code == 200, answer.text
        return [uuid.UUID(case["case_id"]) for case in answer.json()["cases"]]

    assert await found(numbers[open_case]) == [open_case]
    first = (await http.get("/v1/cases", params={"number": numbers[open_case]})).json()["cases"][0]
    assert first["case_number"] == numbers[open_case]
    assert await found(numbers[closed_case]) == [closed_case], "a number finds its case, open or closed"
    assert await found(numbers[closed_case], state="open") == []
    assert await found(numbers[closed_case], state="closed") == [closed_case]
    assert await found(a_number()) == []
    caller["territory"] = "140403"
    assert await found(numbers[open_case]) == [], "a case outside the caller's territory is not found"


@pytest.mark.parametrize("number", ["140402-2026-123", "140402202600123", "14040-2026-00123", "x"])
async def test_a_malformed_number_is_refused_naming_it(client, number: str) -> None:
    http, _ = client
    answer = await http.get("/v1/cases", params={"number": number})
    assert answer.status_code == 422
    assert [problem["loc"] for problem in answer.json()["detail"]] == [["query", "number"]]
    assert number not in answer.text, "the answer never repeats the input"
