"""The child registry on the real database: reports about one child join one case by exact
national id or by normalised name + birth date + territory; identities are stored encrypted, and a
reporter's phone (encrypted with the narrative) is findable only by its keyed digest."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.registry import upgrade
from services.intake import tables as t
from services.intake.reports import OUTBOX, ReportRejected, parse_hotline_report, record_report
from services.intake.service import resources
from shared.contracts.envelope import parse_event
from shared.contracts.hotline import HotlineReport
from shared.crypto import DecryptionError
from shared.db.engine import make_session_factory
from shared.settings import Settings
from tests.e2e.reports import hotline_report, national_id

KEYS = resources(Settings())


@pytest.fixture(scope="module")
async def sessions(infra):
    await asyncio.to_thread(upgrade, "intake", infra.database_url)
    engine = create_async_engine(infra.database_url)
    yield make_session_factory(engine)
    await engine.dispose()


async def record(sessions, report: dict):
    async with sessions.begin() as session:
        return await record_report(
            session,
            HotlineReport.model_validate_json(_json(report)),
            keys=KEYS,
            source="test",
            recorded_by="test",
        )


def _json(report: dict) -> str:
    import json

    return json.dumps(report)


async def test_same_national_id_from_another_channel_joins_the_open_case(sessions) -> None:
    nid = national_id()
    first = await record(sessions, hotline_report(child={"national_id": nid, "name": "Zhang Wei"}))
    second = await record(
        sessions,
        hotline_report(
            channel="hospital",
            child={"national_id": nid.lower(), "name": "Zhang  Wei", "birth_date": None, "age_estimate": 9},
        ),
    )
    assert (second.child_ref, second.case_id) == (first.child_ref, first.case_id)
    assert (first.earlier_reports, second.earlier_reports) == (0, 1)


async def test_name_birth_date_and_territory_match_when_no_national_id(sessions) -> None:
    name = f"Chen {uuid.uuid4().hex[:6]}"
    first = await record(sessions, hotline_report(child={"national_id": None, "name": name}))
    second = await record(
        sessions, hotline_report(channel="school", child={"national_id": None, "name": name.upper()})
    )
    elsewhere = await record(
        sessions, hotline_report(child={"national_id": None, "name": name}, jurisdiction="140402001002")
    )
    assert second.case_id == first.case_id
    assert elsewhere.child_ref != first.child_ref, (
        "another village's child with the same name is another child"
    )


async def test_same_name_and_birthday_but_different_national_ids_are_different_children(sessions) -> None:
    name = f"Liu {uuid.uuid4().hex[:6]}"
    first = await record(sessions, hotline_report(child={"national_id": national_id(), "name": name}))
    second = await record(sessions, hotline_report(child={"national_id": national_id(), "name": name}))
    assert second.child_ref != first.child_ref and second.case_id != first.case_id


async def test_the_same_hotline_report_twice_is_one_report_and_one_event(sessions) -> None:
    report = hotline_report()
    first = await record(sessions, report)
    again = await record(sessions, report)
    assert again.duplicate and again.report_id == first.report_id
    async with sessions() as session:
        reports = await session.scalar(
            select(func.count())
            .select_from(t.reports)
            .where(t.reports.c.external_id == report["external_id"])
        )
        events = await session.execute(
            select(OUTBOX.c.payload).where(OUTBOX.c.aggregate_id == str(first.case_id))
        )
        payloads = [parse_event(p).payload for (p,) in events]
    assert reports == 1
    assert [p.report_id for p in payloads] == [first.report_id]


async def test_identity_and_narrative_are_stored_encrypted_and_bound_to_their_row(sessions) -> None:
    report = hotline_report()
    recorded = await record(sessions, report)
    async with sessions() as session:
        identity = await session.scalar(
            select(t.children.c.identity).where(t.children.c.id == recorded.child_ref)
        )
        confidential = await session.scalar(
            select(t.reports.c.confidential).where(t.reports.c.id == recorded.report_id)
        )
    for secret in (report["child"]["name"], report["child"]["national_id"], report["child"]["address"]):
        assert secret.encode() not in identity
    assert report["narrative"].encode() not in confidential
    assert (
        KEYS.cipher.decrypt_json(identity, record_id=str(recorded.child_ref))["name"]
        == report["child"]["name"]
    )
    with pytest.raises(DecryptionError):
        KEYS.cipher.decrypt_json(identity, record_id=str(uuid.uuid4()))


async def test_a_reporters_phone_is_kept_as_its_digest_and_an_anonymous_report_keeps_none(sessions) -> None:
    phone = f"+86 139-{uuid.uuid4().int % 10**8:08d}"
    named = await record(sessions, hotline_report(reporter={"phone": phone}))
    unnamed = {"name": None, "phone": None, "anonymous": True}
    anonymous = await record(sessions, hotline_report(reporter=unnamed))
    r = t.reports.c
    async with sessions() as session:
        kept = dict(
            (
                await session.execute(
                    select(r.id, r.reporter_phone_digest).where(
                        r.id.in_([named.report_id, anonymous.report_id])
                    )
                )
            ).all()
        )
    assert kept == {
        named.report_id: KEYS.hasher.reporter_phone_digest(phone.replace("-", "")),
        anonymous.report_id: None,
    }


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda r: r["child"].update(birth_date="2000-02-02"), "18 or older"),
        (lambda r: r.update(narrative="n" * 70_000), "limit is"),
    ],
)
def test_reports_intake_cannot_accept_are_rejected_before_storage(change, reason) -> None:
    report = hotline_report()
    change(report)
    with pytest.raises(ReportRejected, match=reason):
        parse_hotline_report(_json(report).encode())
