"""A case closes only when it is safe, on the real stack with every service a process: while an
agency holds a referral the closure is refused naming each one; the case's side withdraws each with
a reason and the agency hears of it on its own topic; a red case closes as safe only after a recent
visit, and a visit dated in the future is refused; a closure that raced a new referral leaves none open."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer

from shared.auth import Role
from shared.contracts.envelope import new_envelope
from shared.contracts.events import CaseClosed
from tests.e2e.closing import open_referrals_of, withdraw_open_referrals
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import assignment, hotline_report, token
from tests.e2e.test_casework import CLOSED, SUPERVISOR, _case, reported_and_owned
from tests.e2e.test_intake_assessment import of_case
from tests.e2e.watch import TopicWatcher

POLICE_TOPIC, STATUS = "referral.to.police", "referral.status"
POLICE = token(Role.agency_officer, "police-officer-7", agency="police")


async def _red_case(infra, services: RunningServices, caseworker: str) -> tuple[str, list[dict]]:
    """A red emergency reported on the hotline, named to `caseworker`, with its referrals made."""
    case_id = await reported_and_owned(infra, hotline_report())
    async with (
        httpx.AsyncClient(base_url=services.urls["casework"]) as casework,
        httpx.AsyncClient(base_url=services.urls["referral"]) as referral,
    ):
        await _case(casework, case_id, SUPERVISOR)
        assert (
            await casework.post(
                f"/v1/cases/{case_id}/assignment", json=assignment(caseworker), headers=SUPERVISOR
            )
        ).status_code == 200
        for _ in range(100):  # the grade's referrals are made in one transaction, and casework hears of them
            referrals = await open_referrals_of(referral, case_id, SUPERVISOR)
            counted = (await casework.get(f"/v1/cases/{case_id}", headers=SUPERVISOR)).json()[
                "open_referrals"
            ]
            if referrals and counted == len(referrals):
                return case_id, referrals
            await asyncio.sleep(0.1)
    raise AssertionError(f"the red case {case_id} was never referred")


async def test_a_red_case_closes_only_with_no_open_referral_and_after_a_recent_visit(
    infra, services: RunningServices
) -> None:
    caseworker = f"cw-{uuid.uuid4().hex[:8]}"
    mine = token(Role.caseworker, caseworker, jurisdiction="140402")
    case_id, referrals = await _red_case(infra, services, caseworker)
    agencies = {r["agency"] for r in referrals}
    assert "police" in agencies, "immediate danger always reaches the police"
    police = next(r for r in referrals if r["agency"] == "police")
    async with (
        httpx.AsyncClient(base_url=services.urls["casework"]) as casework,
        httpx.AsyncClient(base_url=services.urls["referral"]) as referral,
        httpx.AsyncClient(base_url=services.urls["followup"]) as followup,
    ):
        # The police acknowledge; the closure is refused, naming every referral still open.
        assert (
            await referral.post(
                f"/v1/referrals/{police['referral_id']}/responses",
                json={"action": "acknowledge"},
                headers=POLICE,
            )
        ).status_code == 200
        refused = await casework.post(
            f"/v1/cases/{case_id}/approvals", json={"kind": "close", "reason": "moved_away"}, headers=mine
        )
        assert refused.status_code == 409, refused.text
        named = refused.json()["detail"]["open_referrals"]
        assert {(r["referral_id"], r["agency"]) for r in named} == {
            (r["referral_id"], r["agency"]) for r in referrals
        }
        assert (
            refused.json()["detail"]["code"] == "open_referrals"
            and "withdraw" in refused.json()["detail"]["msg"]
        )

        # A withdrawal needs a person's reason, a caseworker of the case's territory, and an open referral.
        reserved = await referral.post(
            f"/v1/referrals/{police['referral_id']}/withdrawal", json={"reason": "case_closed"}, headers=mine
        )
        assert reserved.status_code == 422 and reserved.json()["detail"][0]["loc"][-1] == "reason"
        elsewhere = token(Role.caseworker, "cw-luzhou", jurisdiction="140403")
        assert (
            await referral.post(
                f"/v1/referrals/{police['referral_id']}/withdrawal",
                json={"reason": "no_longer_needed"},
                headers=elsewhere,
            )
        ).status_code == 404
        assert (
            await referral.post(
                f"/v1/referrals/{police['referral_id']}/withdrawal",
                json={"reason": "no_longer_needed"},
                headers=POLICE,
            )
        ).status_code == 403

        async with TopicWatcher(infra.kafka_bootstrap, [POLICE_TOPIC, STATUS]) as watcher:
            withdrawn = await withdraw_open_referrals(services.urls, case_id, mine)
            told = await watcher.wait_for(
                POLICE_TOPIC,
                lambda seen: (
                    seen.json()["event_type"] == "referral.withdrawn" and seen.json()["case_id"] == case_id
                ),
                timeout=30,
            )
        assert {r["state"] for r in withdrawn} == {"withdrawn"} and {
            r["agency"] for r in withdrawn
        } == agencies
        assert told[0].json()["payload"]["reason"] == "no_longer_needed"
        assert told[0].json()["payload"]["withdrawn_by"] == caseworker
        # The agency can no longer finish it; withdrawing it again changes nothing.
        late = await referral.post(
            f"/v1/referrals/{police['referral_id']}/responses",
            json={"action": "complete", "outcome": "successful"},
            headers=POLICE,
        )
        assert late.status_code == 409 and "withdrawn" in late.json()["detail"]
        again = await referral.post(
            f"/v1/referrals/{police['referral_id']}/withdrawal",
            json={"reason": "no_longer_needed"},
            headers=mine,
        )
        assert again.status_code == 200 and again.json()["state"] == "withdrawn"

        # A red case is not closed as safe without a recent visit; a visit dated in the future is refused.
        unseen = await casework.post(
            f"/v1/cases/{case_id}/approvals", json={"kind": "close", "reason": "risk_resolved"}, headers=mine
        )
        assert unseen.status_code == 409 and unseen.json()["detail"]["code"] == "no_recent_visit", unseen.text
        future = (datetime.now(UTC) + timedelta(days=400)).isoformat()
        dated = await followup.post(f"/v1/cases/{case_id}/visits", json={"visited_at": future}, headers=mine)
        assert dated.status_code == 422 and dated.json()["detail"][0]["loc"][-1] == "visited_at", dated.text
        assert "future" in dated.json()["detail"][0]["msg"]
        visited = await followup.post(
            f"/v1/cases/{case_id}/visits", json={"visited_at": datetime.now(UTC).isoformat()}, headers=mine
        )
        assert visited.status_code == 201, visited.text
        for _ in range(100):
            case = (await casework.get(f"/v1/cases/{case_id}", headers=mine)).json()
            if case["last_visited_at"]:
                break
            await asyncio.sleep(0.05)
        assert datetime.fromisoformat(case["next_due_at"]) > datetime.now(UTC), (
            "the next visit is due, not 2030's"
        )

        async with TopicWatcher(infra.kafka_bootstrap, [CLOSED]) as watcher:
            asked = await casework.post(
                f"/v1/cases/{case_id}/approvals",
                json={"kind": "close", "reason": "risk_resolved"},
                headers=mine,
            )
            assert asked.status_code == 201, asked.text
            approved = await casework.post(
                f"/v1/approvals/{asked.json()['approval_id']}/decision",
                json={"approve": True},
                headers=SUPERVISOR,
            )
            assert approved.status_code == 200, approved.text
            (closed,) = await watcher.wait_for(CLOSED, of_case(case_id), timeout=30)
        assert closed.json()["payload"]["reason"] == "risk_resolved"


async def test_a_closure_that_raced_a_referral_leaves_none_open(infra, services: RunningServices) -> None:
    """Casework refuses a closure while it knows of an open referral; one made meanwhile (a late
    grade) is withdrawn by referral when it hears the case closed, and the agency is told."""
    case_id, referrals = await _red_case(infra, services, f"cw-{uuid.uuid4().hex[:8]}")
    closure = new_envelope(
        CaseClosed(case_id=uuid.UUID(case_id), reason="moved_away", closed_at=datetime.now(UTC)),
        case_id=uuid.UUID(case_id),
        producer="casework",
    )
    async with TopicWatcher(infra.kafka_bootstrap, [POLICE_TOPIC]) as watcher:
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(CaseClosed.TOPIC, closure.to_json(), key=case_id.encode())
        finally:
            await producer.stop()
        (told,) = await watcher.wait_for(
            POLICE_TOPIC,
            lambda seen: (
                seen.json()["event_type"] == "referral.withdrawn" and seen.json()["case_id"] == case_id
            ),
            timeout=30,
        )
    assert (told.json()["payload"]["reason"], told.json()["payload"]["withdrawn_by"]) == (
        "case_closed",
        "casework",
    )
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as referral:
        for _ in range(100):
            if not await open_referrals_of(referral, case_id, SUPERVISOR):
                break
            await asyncio.sleep(0.05)
        states = {
            r["state"]
            for r in (
                await referral.get("/v1/referrals", params={"case_id": case_id}, headers=SUPERVISOR)
            ).json()
        }
    assert states == {"withdrawn"}, f"{len(referrals)} referrals, now {states}"


async def test_the_agencys_inbox_finds_a_referral_by_number_with_what_it_is_asked_and_pages(
    infra, services: RunningServices
) -> None:
    case_id, referrals = await _red_case(infra, services, f"cw-{uuid.uuid4().hex[:8]}")
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as referral:
        mine = await referral.get(
            "/v1/referrals", params={"case_id": case_id, "waiting": "true"}, headers=POLICE
        )
        assert mine.status_code == 200 and mine.headers["X-Total-Count"] == "1", mine.text
        (row,) = mine.json()
        assert (row["agency"], row["emergency"], row["categories"]) == ("police", True, ["abuse"])
        assert row["case_number"] and isinstance(row["needs"], list)
        by_number = (
            await referral.get("/v1/referrals", params={"number": row["case_number"]}, headers=POLICE)
        ).json()
        assert [r["referral_id"] for r in by_number] == [row["referral_id"]], "the police see only their own"
        everyone = (
            await referral.get("/v1/referrals", params={"number": row["case_number"]}, headers=SUPERVISOR)
        ).json()
        assert {r["referral_id"] for r in everyone} == {r["referral_id"] for r in referrals}
        late = await referral.get(
            "/v1/referrals", params={"case_id": case_id, "overdue": "true"}, headers=POLICE
        )
        assert late.json() == [] and late.headers["X-Total-Count"] == "0", "answered in time so far"
        waiting = {"waiting": "true", "limit": 1}
        first = await referral.get("/v1/referrals", params=waiting, headers=POLICE)
        second = await referral.get("/v1/referrals", params={**waiting, "offset": 1}, headers=POLICE)
        assert int(first.headers["X-Total-Count"]) >= 1 and len(first.json()) == 1
        assert not second.json() or second.json()[0]["referral_id"] != first.json()[0]["referral_id"]
        bad = await referral.get("/v1/referrals", params={"number": "2026-123"}, headers=POLICE)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "number"]
