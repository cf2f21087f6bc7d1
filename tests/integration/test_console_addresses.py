"""What an address typed by hand, forged or followed from a link cannot make the console do: a board
filter that is not one of its choices shows the board without it, in words (never a 5xx); a page's cursor
casework refuses, the same; a purpose in a link reads nothing of a child and records nothing — the reader
chooses it on the page, whose form alone reads. The services are stood in for by what they answer
(httpx's mock transport)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.integration.test_console_pages import _add, _sign_in, console  # noqa: F401 (the fixture)

CASE_ID, CHILD_REF, CHILD = str(uuid.uuid4()), str(uuid.uuid4()), "王小红"
FORGED_CURSOR = "OTIyMzM3MjAzNjg1NDc3NTgwOHwyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAw"
EMPTY_PAGE = {
    "cases": [],
    "next": None,
    "total": 0,
    "tally": dict.fromkeys(
        (
            "all",
            "emergency",
            "red",
            "orange",
            "blue",
            "not_graded",
            "overdue",
            "unassigned",
            "pending_approval",
        ),
        0,
    ),
}


class Services:
    """Casework's worklist as it answers: a cursor it never gave is a 422 naming `after`."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.asked: list[httpx.Request] = []
        self.ports = ports

    def port(self, service: str) -> int:
        return self.ports[service]

    def reads(self) -> list[httpx.Request]:
        """What was asked with a purpose: the reads each service records on the ledger."""
        return [r for r in self.asked if "purpose" in r.url.params]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        if request.url.path == "/v1/cases":
            if request.url.params.get("after") == FORGED_CURSOR:
                return httpx.Response(
                    422,
                    json={
                        "detail": [
                            {
                                "loc": ["query", "after"],
                                "type": "value_error",
                                "msg": "not a cursor this list gave",
                            }
                        ]
                    },
                )
            return httpx.Response(200, json=EMPTY_PAGE)
        if request.url.path == "/v1/cases/waiting":
            return httpx.Response(200, json=[])
        if request.url.path == f"/v1/cases/{CASE_ID}" and request.url.port == self.port("casework"):
            return httpx.Response(
                200, json={"case_id": CASE_ID, "case_number": "140402-2026-00042", "child_ref": CHILD_REF}
            )
        if request.url.path == f"/v1/cases/{CASE_ID}/child":
            return httpx.Response(
                200,
                json={
                    "case_id": CASE_ID,
                    "purpose": request.url.params["purpose"],
                    "identity": {"name": CHILD},
                    "reports": [],
                },
            )
        if request.url.path == f"/v1/children/{CHILD_REF}/archive":
            return httpx.Response(
                200,
                json={
                    "version": 1,
                    "updated_at": None,
                    "home": CHILD,
                    "school": "",
                    "community": "",
                    "difficulties": "",
                    "risks": "",
                },
            )
        if request.url.path.startswith(f"/v1/cases/{CASE_ID}/"):  # the records and notes of each service
            return httpx.Response(200, json={"records": [], "visits": [], "notes": []})
        return httpx.Response(404, json={"detail": "not here"})


@pytest.fixture
def services(console: TestClient) -> Services:  # noqa: F811
    settings = console.app.state.console.settings
    answering = Services({name: settings.port_of(name) for name in ("casework", "intake")})
    console.app.state.console.http = httpx.AsyncClient(transport=httpx.MockTransport(answering))
    return answering


@pytest.mark.parametrize(
    ("address", "left_out"),
    [
        ("/board?grade=purple", "等级"),
        ("/board?owner=%27", "负责人"),
        ("/?grade=purple", "等级"),
        ("/board?grade=red&stage=done", "阶段"),
        ("/board?after=not%20a%20cursor", "分页"),
        (f"/board?after={FORGED_CURSOR}", "分页"),
    ],
)
async def test_a_board_filter_not_among_its_choices_shows_the_board_without_it_in_words(
    console: TestClient, services: Services, infra, address: str, left_out: str
) -> None:  # noqa: F811
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
    chosen = console.get("/board?grade=red&owner=unassigned")
    assert chosen.status_code == 200 and 'role="alert"' not in chosen.text, "filters among their choices"


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


@pytest.mark.parametrize("read", ["child", "records", "archive"])
async def test_a_purpose_in_a_link_reads_nothing_records_nothing_and_asks_the_reader_why(
    console: TestClient, services: Services, infra, read: str
) -> None:  # noqa: F811
    _sign_in(console, await _add(infra, "caseworker", "140402"))
    for link in (f"/cases/{CASE_ID}/{read}?purpose=legal_proceedings", f"/cases/{CASE_ID}/{read}"):
        page = console.get(link)
        assert page.status_code == 200
        assert CHILD not in page.text, "nothing of the child is shown"
        assert services.reads() == [], "nothing is read, so nothing is recorded"
        form = re.search(rf'<form method="post" action="/cases/{CASE_ID}/{read}".*?</form>', page.text, re.S)
        assert form and 'name="csrf_token"' in form[0] and '<option value="">' in form[0], (
            "the reader chooses the purpose on the page: none is chosen for them"
        )
        assert 'legal_proceedings" selected' not in page.text
    # A form posted from elsewhere (no token of the session) reads nothing either.
    assert console.post(f"/cases/{CASE_ID}/{read}", data={"purpose": "legal_proceedings"}).status_code == 403
    assert services.reads() == []
    # The page's own form reads, with the purpose chosen there.
    chosen = {"csrf_token": _csrf(page.text), "purpose": "assessment"}
    shown = console.post(f"/cases/{CASE_ID}/{read}", data=chosen)
    assert shown.status_code == 200
    assert {r.url.params["purpose"] for r in services.reads()} == {"assessment"}
    if read != "records":
        assert CHILD in shown.text


async def test_a_purpose_given_through_the_sign_in_page_reads_nothing(
    console: TestClient, services: Services, infra
) -> None:  # noqa: F811
    username = await _add(infra, "caseworker", "140402")
    link = f"/cases/{CASE_ID}/child?purpose=legal_proceedings"
    assert console.get(link).headers["location"].startswith("/sign-in?next=")
    form = console.get("/sign-in", params={"next": link})
    signed_in = console.post(
        "/sign-in",
        data={
            "username": username,
            "password": "a long enough password 42",
            "csrf_token": _csrf(form.text),
            "next": link,
        },
        follow_redirects=True,
    )
    assert signed_in.url.path == f"/cases/{CASE_ID}/child", "signed in, and on the page the link named"
    assert CHILD not in signed_in.text and services.reads() == []
    assert 'name="purpose" required' in signed_in.text, "which asks the reader why"
