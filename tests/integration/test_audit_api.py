"""Audit's access list in-process on the real stack: a forged page cursor (`before` past the ledger's
bigint) or a moment off the calendar or not written as one is a 422 naming it, never a 500 or a number
taken for seconds since 1970."""

from __future__ import annotations

import uuid
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


async def test_a_case_notes_read_that_names_no_child_is_listed_not_a_500(
    audit: httpx.AsyncClient, infra
) -> None:
    """access.recorded allows a read of a case's notes where the service had not yet heard which child
    the case is about (no child_ref): the access list shows it (a 500 hid every read on its page)."""
    from datetime import UTC, datetime

    from sqlalchemy.ext.asyncio import create_async_engine

    from services.audit.decide import message_of
    from services.audit.ledger import append_messages
    from shared.contracts.envelope import new_envelope
    from shared.contracts.events import PersonalDataAccessed
    from shared.contracts.vocabulary import AccessPurpose, PersonalField, PersonalRecord
    from shared.db.engine import make_session_factory
    from tests.integration.support import consumer_record

    read = PersonalDataAccessed(
        access_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        record=PersonalRecord.case_notes,
        action="read",
        outcome="shown",
        accessor_ref="cw-no-child",
        accessor_role=Role.caseworker,
        purpose=AccessPurpose.supervision,
        fields=[PersonalField.notes],
        jurisdiction="140402001001",
        accessed_at=datetime.now(UTC),
    )
    envelope = new_envelope(read, case_id=read.case_id, producer="casework")
    engine = create_async_engine(infra.database_url)
    try:
        async with make_session_factory(engine).begin() as session:
            await append_messages(
                session, [message_of(consumer_record("audit.access", 0, 0, envelope.to_json()))]
            )
    finally:
        await engine.dispose()
    answer = await audit.get("/v1/access", params={"reader": "cw-no-child"}, headers=SUPERVISOR)
    # (Until this read, the page of the list that held it answered 500.)
    assert answer.status_code == 200, answer.text
    assert [(e["access_id"], e["child_ref"]) for e in answer.json()["entries"]] == [
        (str(read.access_id), None)
    ]
