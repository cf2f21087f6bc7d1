"""Lists taken away from the console (issue 24), against the real PostgreSQL for the people and their
sessions, the services' answers as they give them (tests/e2e/test_exports.py proves intake's): the board's
every page as CSV, an agency's inbox as XLSX, and the children's details of the board's cases in a 7z
archive that opens only with the password typed twice — asked of intake in one request, with a purpose."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import httpx
import py7zr
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from services.console.pages import LANGUAGE_COOKIE
from services.console.worklist import QUICK
from tests.integration.test_console_pages import _add, _sign_in
from tests.integration.test_console_pages import console as console  # noqa: F401 - the fixture

PASSWORD = "river stones at dusk"


def _case(number: int, **changes) -> dict:
    return {
        "case_id": str(uuid.uuid4()),
        "case_number": f"140402-2026-{number:05d}",
        "risk_level": "orange",
        "emergency": False,
        "jurisdiction": "140402001001",
        "categories": ["neglect"],
        "stage": "assessed",
        "owner": {"caseworker": None},
        "next_due_kind": None,
        "next_due_at": None,
        "overdue": False,
        "state": "open",
        **changes,
    }


CASES = [_case(1, owner={"caseworker": '=HYPERLINK("http://example.invalid","x")'}), _case(2), _case(3)]


class Services:
    """Casework's board in pages of two, intake's export, the referral service's inbox; what was asked."""

    def __init__(self) -> None:
        self.asked: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        path, params = request.url.path, request.url.params
        if path == "/v1/cases":
            start = int(params.get("after") or 0)
            page = CASES[start : start + min(2, int(params["limit"]))]
            following = str(start + 2) if start + 2 < len(CASES) else None
            tally = {name: len(CASES) for name, _ in QUICK}
            total = {"total": len(CASES), "tally": tally} if params.get("totals") else {}
            return httpx.Response(200, json={"cases": page, "next": following, **total})
        if path == "/v1/children/export":
            asked = json.loads(request.content)
            children = [
                {
                    "case_id": case_id,
                    "case_number": case["case_number"],
                    "child_ref": str(uuid.uuid4()),
                    "provisional": False,
                    "jurisdiction": "140402001001",
                    "access_id": str(uuid.uuid4()),
                    "identity": {"name": f"王小{index}", "sex": "F"},
                }
                for index, (case_id, case) in enumerate(zip(asked["case_ids"], CASES, strict=False))
                if index < 2  # the third is not the person's: left out
            ]
            answer = {
                "purpose": asked["purpose"],
                "shown": ["name", "sex"],
                "children": children,
                "left_out": 1,
            }
            return httpx.Response(200, json=answer)
        if path == "/v1/referrals":
            referral = {
                **CASES[1],
                "referral_id": str(uuid.uuid4()),
                "needs": ["legal"],
                "ack_due_at": "2026-12-07T02:00:00+00:00",
                "state": "sent",
                "actions": [],
            }
            return httpx.Response(200, json=[referral], headers={"X-Total-Count": "1"})
        return httpx.Response(404, json={"detail": "not in this test"})

    def paths(self, path: str) -> list[httpx.Request]:
        return [request for request in self.asked if request.url.path == path]


@pytest.fixture
async def services(console: TestClient):  # noqa: F811
    fake = Services()
    console.app.state.console.http = http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    yield fake
    await http.aclose()


async def test_the_boards_every_page_goes_into_the_csv_with_no_cell_a_formula(
    console: TestClient,  # noqa: F811
    services: Services,
    infra,
) -> None:
    _sign_in(console, await _add(infra, "supervisor", "140402"))
    board = console.get("/board", params={"grade": "orange"})
    assert '<a href="/board/export.csv?grade=orange" download>下载CSV</a>' in board.text
    assert 'href="/board/children-export?grade=orange"' in board.text
    answer = console.get("/board/export.csv", params={"grade": "orange"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="cases-')
    assert answer.content.startswith("\ufeff".encode())
    header, *rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert header[0] == "个案编号" and len(header) == 10, "the page's columns without personal data"
    assert [row[0] for row in rows] == [case["case_number"] for case in CASES], "every page"
    assert rows[0][6] == "'" + CASES[0]["owner"]["caseworker"], "kept as text, never run"
    board_calls = services.paths("/v1/cases")[-2:]
    assert [call.url.params.get("after") for call in board_calls] == [None, "2"]
    assert all(call.url.params["grade"] == "orange" for call in board_calls)


async def test_an_agencys_inbox_goes_into_an_xlsx_in_the_persons_language(
    console: TestClient,  # noqa: F811
    services: Services,
    infra,
) -> None:
    _sign_in(console, await _add(infra, "agency_officer", "140402", agency="police"))
    console.cookies.set(LANGUAGE_COOKIE, "en")
    answer = console.get("/inbox/export.xlsx", params={"show": "all", "grade": "orange"})
    assert answer.status_code == 200, answer.text
    referrals, about = load_workbook(io.BytesIO(answer.content)).worksheets
    rows = [[cell.value for cell in row] for row in referrals.iter_rows()]
    assert rows[0][:2] == ["Case number", "Grade"] and referrals.title == "Referrals to my agency"
    assert rows[1][0] == CASES[1]["case_number"] and rows[1][4] == "Legal" and len(rows) == 2
    assert about.title == "About this file"
    assert services.paths("/v1/referrals")[-1].url.params["grade"] == "orange"
    assert console.get("/board/children-export").status_code == 403, "an agency reads one child at a time"


async def test_the_childrens_details_leave_only_in_an_archive_under_the_password_typed_twice(
    console: TestClient,  # noqa: F811
    services: Services,
    infra,
    tmp_path,
) -> None:
    _sign_in(console, await _add(infra, "supervisor", "140402"))
    form = console.get("/board/children-export", params={"grade": "orange"})
    assert form.status_code == 200 and "工作台筛选出的个案：3" in form.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
    sent = {"csrf_token": csrf, "grade": "orange", "purpose": "legal_proceedings"}

    short = console.post(
        "/board/children-export", data={**sent, "password": "short", "password_again": "short"}
    )
    differs = console.post(
        "/board/children-export", data={**sent, "password": PASSWORD, "password_again": PASSWORD + "!"}
    )
    no_purpose = console.post(
        "/board/children-export",
        data={**sent, "purpose": "", "password": PASSWORD, "password_again": PASSWORD},
    )
    assert (short.status_code, differs.status_code, no_purpose.status_code) == (422, 422, 422)
    assert 'id="password-error">密码太短' in short.text and 'id="password_again-error">' in differs.text
    assert PASSWORD not in differs.text, "a password is never filled in again"
    assert 'id="purpose-error"' in no_purpose.text
    assert services.paths("/v1/children/export") == [], "nothing read before the form is right"

    answer = console.post(
        "/board/children-export", data={**sent, "password": PASSWORD, "password_again": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-7z-compressed"
    assert answer.headers["cache-control"] == "no-store"
    (asked,) = services.paths("/v1/children/export")
    assert json.loads(asked.content) == {
        "case_ids": [case["case_id"] for case in CASES],
        "purpose": "legal_proceedings",
    }, "one request, with the purpose, and no password"
    with pytest.raises(py7zr.exceptions.PasswordRequired):
        with py7zr.SevenZipFile(io.BytesIO(answer.content)) as archive:
            archive.getnames()
    with py7zr.SevenZipFile(io.BytesIO(answer.content), password=PASSWORD) as archive:
        (name,) = archive.getnames()
        archive.extractall(path=tmp_path)
    children, about = load_workbook(tmp_path / name).worksheets
    rows = [[cell.value for cell in row] for row in children.iter_rows()]
    assert [row[2] for row in rows[1:]] == ["王小0", "王小1"]
    facts = {row[0].value: row[1].value for row in about.iter_rows(min_row=2)}
    assert facts["导出目的"] == "法律程序" and facts["无权查阅而未导出的个案"] == 1
