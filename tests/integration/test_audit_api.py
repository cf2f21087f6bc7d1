"""Audit's access list in-process on the real stack: a forged page cursor (`before` past the ledger's
bigint) or a moment off the calendar or not written as one is a 422 naming it, never a 500 or a number
taken for seconds since 1970."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.auth import Role
from tests.e2e.reports import token
from tests.integration.support import service_in_process

SUPERVISOR = token(Role.supervisor, "sup-chengqu", jurisdiction="140402")


@pytest.fixture(scope="module")
async def audit(infra) -> AsyncIterator[httpx.AsyncClient]:
    async with service_in_process(infra, "audit") as client:
        yield client


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"before": "1770779797871024529582168473600"}, "before"),
        ({"until": "0.5"}, "until"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"until": "9999-12-31T23:59:59-14:00"}, "until"),
    ],
)
async def test_a_bad_page_or_moment_of_the_access_list_is_a_422_naming_it(
    audit: httpx.AsyncClient, query: dict, named: str
) -> None:
    answer = await audit.get("/v1/access", params=query, headers=SUPERVISOR)
    assert answer.status_code == 422, answer.text
    assert [problem["loc"] for problem in answer.json()["detail"]] == [["query", named]]
    # …while the last page a bigint can name, and a moment with its offset, are answered.
    for query in ({"before": str(2**63 - 1)}, {"until": "2026-12-01T00:00:00+08:00"}):
        assert (await audit.get("/v1/access", params=query, headers=SUPERVISOR)).status_code == 200
