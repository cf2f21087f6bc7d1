"""What an address typed by hand, forged or followed from a link cannot make the console do: a board
filter that is not one of its choices shows the board without it, in words (never a 5xx); a page's cursor
casework refuses, the same. The services are stood in for by what they answer (httpx's mock transport)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.integration.test_console_pages import _add, _sign_in, console  # noqa: F401 (the fixture)

FORGED_CURSOR = "OTIyMzM3MjAzNjg1NDc3NTgwOHwyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAw"
EMPTY_PAGE = {"cases": [], "next": None, "total": 0,
              "tally": {name: 0 for name in ("all", "emergency", "red", "orange", "blue", "not_graded", "overdue",
                                             "unassigned", "pending_approval")}}


class Services:
    """Casework's worklist as it answers: a cursor it never gave is a 422 naming `after`."""

    def __init__(self) -> None:
        self.asked: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        if request.url.path == "/v1/cases":
            if request.url.params.get("after") == FORGED_CURSOR:
                return httpx.Response(422, json={"detail": [{"loc": ["query", "after"], "type": "value_error",
                                                             "msg": "not a cursor this list gave"}]})
            return httpx.Response(200, json=EMPTY_PAGE)
        if request.url.path == "/v1/cases/waiting":
            return httpx.Response(200, json=[])
        return httpx.Response(404, json={"detail": "not here"})


@pytest.fixture
def services(console: TestClient) -> Services:  # noqa: F811
    answering = Services()
    console.app.state.console.http = httpx.AsyncClient(transport=httpx.MockTransport(answering))
    return answering


@pytest.mark.parametrize(("address", "left_out"), [
    ("/board?grade=purple", "等级"), ("/board?owner=%27", "负责人"), ("/?grade=purple", "等级"),
    ("/board?grade=red&stage=done", "阶段"), ("/board?after=not%20a%20cursor", "分页"),
    (f"/board?after={FORGED_CURSOR}", "分页")])
async def test_a_board_filter_not_among_its_choices_shows_the_board_without_it_in_words(
        console: TestClient, services: Services, infra, address: str, left_out: str) -> None:  # noqa: F811
    _sign_in(console, await _add(infra, "supervisor", "140402"))
    answer = console.get(address, follow_redirects=True)
    assert answer.status_code == 422, "the address's fault, said as such: never a 5xx"
    assert "<h1>工作台</h1>" in answer.text, "the board itself"
    alert = re.search(r'<p class="error" role="alert">(.*?)</p>', answer.text, re.S)
    assert alert and "已忽略这些条件" in alert[1] and left_out in alert[1], answer.text
    asked = [dict(r.url.params) for r in services.asked if r.url.path == "/v1/cases"]
    assert asked and all("purple" not in q.values() and "'" not in q.get("owner", "") for q in asked)
    assert asked[-1].get("after") is None, "the board shown is the first page"
    if "grade=red" in address:
        assert asked[-1]["grade"] == "red", "the filters among their choices are kept"


async def test_a_board_with_every_filter_among_its_choices_is_no_error(
        console: TestClient, services: Services, infra) -> None:  # noqa: F811
    _sign_in(console, await _add(infra, "supervisor", "140402"))
    answer = console.get("/board?grade=red&owner=unassigned")
    assert answer.status_code == 200
    assert 'role="alert"' not in answer.text
    assert str(uuid.UUID(int=0)) not in answer.text
