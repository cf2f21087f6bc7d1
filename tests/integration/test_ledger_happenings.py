"""What the figures count is written with the ledger's entries, on the real database: a counted event
makes its happenings once however often it is delivered, and none when the batch rolls back; a dead
letter, a copy on a foreign topic or an event its contract refuses is on the ledger and counts for
nothing. A bulletin computed from the happenings in one snapshot is recounted from the ledger's
entries within the heads it names, equal; heads the ledger does not hold are refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.audit import tables as t
from services.audit.bulletins import Heads, LedgerDiffers, backfill, compute, recount, snapshot
from services.audit.decide import message_of
from services.audit.indicators import Period
from services.audit.ledger import LedgerStore
from shared.auth import Role
from shared.contracts.envelope import new_envelope
from shared.contracts.events import CaseReported, ReferralCreated, ReferralStatusChanged
from shared.contracts.topics import dlq_topic
from shared.contracts.vocabulary import CHINA_STANDARD_TIME, Agency, Channel, ReferralState
from shared.territory.registry import load_territory
from tests.e2e.reports import token
from tests.integration.support import consumer_record, service_in_process
from tests.unit.test_contracts import sample

TOWNSHIP = "140431101000"  # Qinyuan's second township: no other test reports there
VILLAGES = ("140431101201",)


def _reported(village: str = VILLAGES[0]) -> bytes:
    payload = sample(CaseReported).model_copy(
        update={
            "case_id": (case_id := uuid.uuid4()),
            "report_id": uuid.uuid4(),
            "child_ref": uuid.uuid4(),
            "jurisdiction": village,
            "reported_at": datetime.now(UTC) - timedelta(minutes=5),
            "channel": Channel.hotline,
        }
    )
    return new_envelope(payload, case_id=case_id, producer="intake").to_json()


_offsets = iter(range(10**9, 2 * 10**9))


def _on(topic: str, value: bytes | str):
    raw = value.encode() if isinstance(value, str) else value
    return message_of(consumer_record(topic, 5, next(_offsets), raw))


async def _save(sessions: async_sessionmaker[AsyncSession], messages) -> None:
    async with sessions.begin() as session:
        await LedgerStore().save(session, {}, {}, messages)


async def _happenings(sessions: async_sessionmaker[AsyncSession], event_key: str) -> int:
    async with sessions() as session:
        return await session.scalar(
            select(func.count()).select_from(t.happenings).where(t.happenings.c.event_key == event_key)
        )


async def test_a_counted_event_makes_its_happening_once_and_only_when_it_is_a_real_one(
    audit_sessions: async_sessionmaker[AsyncSession],
) -> None:
    value = _reported()
    first = _on(CaseReported.TOPIC, value)
    await _save(audit_sessions, [first, _on(CaseReported.TOPIC, value)])  # twice in one batch
    await _save(audit_sessions, [_on(CaseReported.TOPIC, value)])  # and again later
    assert await _happenings(audit_sessions, first.event_key) == 1

    class Failed(Exception):
        pass

    lost = _on(CaseReported.TOPIC, _reported())
    with pytest.raises(Failed):
        async with audit_sessions.begin() as session:
            await LedgerStore().save(session, {}, {}, [lost])
            raise Failed
    assert await _happenings(audit_sessions, lost.event_key) == 0, "rolled back with its entry"

    refused = json.dumps(
        {**(sent := json.loads(_reported())), "payload": {**sent["payload"], "channel": "x"}}
    )
    for message in (
        _on(dlq_topic(CaseReported.TOPIC), _reported()),
        _on("case.assessed", _reported()),
        _on(CaseReported.TOPIC, refused),
    ):
        await _save(audit_sessions, [message])
        assert await _happenings(audit_sessions, message.event_key) == 0, message.topic


async def test_a_bulletin_is_recounted_equal_from_the_ledger_within_its_heads(
    audit_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _save(audit_sessions, [_on(CaseReported.TOPIC, _reported()) for _ in range(7)])
    month = Period.parse(datetime.now(CHINA_STANDARD_TIME).strftime("%Y-%m"))
    async with audit_sessions.begin() as session:
        await snapshot(session)
        made = await compute(session, TOWNSHIP, VILLAGES, month)
    assert made.figures.table("reports_by_channel").cell("hotline", "total").value >= 7
    # More entries after it: the recount stops at the heads the bulletin names.
    await _save(audit_sessions, [_on(CaseReported.TOPIC, _reported())])
    async with audit_sessions.begin() as session:
        again = await recount(session, made.heads, TOWNSHIP, VILLAGES, month, made.figures.as_of)
    assert again == made.figures

    chain, (size, _) = next(iter(made.heads.chains.items()))
    forged = Heads({**made.heads.chains, chain: (size, "00" * 32)})
    async with audit_sessions.begin() as session:
        with pytest.raises(LedgerDiffers, match=f"chain {chain}: its entry {size} is not the one"):
            await recount(session, forged, TOWNSHIP, VILLAGES, month, made.figures.as_of)


async def test_the_entries_appended_before_the_happenings_are_counted_once_by_the_backfill(
    audit_sessions: async_sessionmaker[AsyncSession],
) -> None:
    message = _on(CaseReported.TOPIC, _reported())
    await _save(audit_sessions, [message])
    async with audit_sessions.begin() as session:
        await session.execute(t.happenings.delete().where(t.happenings.c.event_key == message.event_key))
        seq = await session.scalar(select(t.ledger.c.seq).where(t.ledger.c.event_key == message.event_key))
    for _ in range(2):  # twice: the second run finds it counted already
        async with audit_sessions.begin() as session:
            await backfill(session, after=seq - 1, chunk=1)
        assert await _happenings(audit_sessions, message.event_key) == 1


async def test_the_agenda_and_the_bulletin_over_http_for_the_territorys_supervisors_alone(
    audit_sessions: async_sessionmaker[AsyncSession], infra
) -> None:
    case_raw = json.loads(_reported())
    case_id = uuid.UUID(case_raw["case_id"])
    referral_id = uuid.uuid4()
    created = sample(ReferralCreated).model_copy(
        update={
            "case_id": case_id,
            "referral_id": referral_id,
            "agency": Agency.social_work,
            "jurisdiction": VILLAGES[0],
        }
    )
    declined = sample(ReferralStatusChanged).model_copy(
        update={
            "case_id": case_id,
            "referral_id": referral_id,
            "agency": Agency.social_work,
            "state": ReferralState.declined,
            "outcome": None,
            "reason": "outside_our_remit",
            "changed_at": datetime.now(UTC) - timedelta(minutes=1),
        }
    )
    await _save(
        audit_sessions,
        [
            _on(CaseReported.TOPIC, json.dumps(case_raw)),
            _on(
                ReferralCreated.topic_for(created),
                new_envelope(created, case_id=case_id, producer="referral").to_json(),
            ),
            _on(
                ReferralStatusChanged.TOPIC,
                new_envelope(declined, case_id=case_id, producer="referral").to_json(),
            ),
        ],
    )
    county, month = "140431000000", datetime.now(CHINA_STANDARD_TIME).strftime("%Y-%m")
    own = token(Role.supervisor, "sup-qinyuan", jurisdiction="140431")
    other = token(Role.supervisor, "sup-chengqu", jurisdiction="140402")
    async with service_in_process(infra, "audit") as audit:
        proposed = await audit.get(f"/v1/agenda/{county}", headers=own)
        assert proposed.status_code == 200, proposed.text
        (mine,) = [p for p in proposed.json() if p["case_id"] == str(case_id)]
        assert (mine["reasons"], mine["agencies"]) == (["referral_declined"], ["social_work"])
        assert (await audit.get(f"/v1/agenda/{county}", headers=other)).status_code == 403
        assert (await audit.get("/v1/agenda/140431999000", headers=own)).status_code == 404
        made = await audit.get(f"/v1/bulletins/{county}/{month}", headers=own)
        assert made.status_code == 200, made.text
        assert made.json()["ledger_entries"] == sum(size for size, _ in made.json()["ledger_heads"].values())
        assert (await audit.get(f"/v1/bulletins/{county}/{month}", headers=other)).status_code == 403
        assert (await audit.get(f"/v1/bulletins/{county}/2026-13", headers=own)).status_code == 422
        lacking = await audit.get(f"/v1/quality/{county}", params={"limit": 500}, headers=own)
        assert lacking.status_code == 200, lacking.text
        assert int(lacking.headers["X-Total-Count"]) >= len(lacking.json())
        assert (await audit.get(f"/v1/quality/{county}", headers=other)).status_code == 403
        unknown_rule = await audit.get(f"/v1/quality/{county}", params={"rule": "x"}, headers=own)
        assert unknown_rule.status_code == 422
        scored = (await audit.get(f"/v1/quality/{county}/scores", headers=own)).json()
        assert scored[-1]["node"] == county and scored[-1]["open_cases"] >= 1
        assert [s["node"] for s in scored[:-1]] == [c.code for c in load_territory().children(county)]
