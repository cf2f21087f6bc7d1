"""The help delivered, through referral's API in-process on the real database: a county registers its
providers and a purchase contract; a caseworker turns the plan into three services (counselling by a
contracted social-work organisation, living assistance by civil affairs, legal aid); the organisation's
worker sees only its own, records three sessions and the delivery; the family's feedback is recorded;
the contract's scorecard counts units against those purchased and the share on time; a service left
open past its due date moves up to the township, then the county (injected clock)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.registry import upgrade
from services.referral import tables as t
from services.referral.deliveries import escalate_overdue_services
from services.referral.provision import LOCAL
from services.referral.refer import OUTBOX, Resources
from services.referral.routing import load_routes
from shared.auth import Role
from shared.db.engine import make_session_factory
from shared.unit_of_work import TableOutbox, UnitOfWork, committed
from tests.e2e.reports import token
from tests.integration.support import service_in_process

COUNTY, VILLAGE = "140402", "140402001001"
SUPERVISOR = token(Role.supervisor, "sup-services", jurisdiction=COUNTY)
CASEWORKER = token(Role.caseworker, "cw-services", jurisdiction=COUNTY)
ELSEWHERE = token(Role.caseworker, "cw-elsewhere", jurisdiction="140403")
CIVIL_AFFAIRS = token(Role.agency_officer, "ca-services", jurisdiction=COUNTY, agency="civil_affairs")
POLICE = token(Role.agency_officer, "po-services", jurisdiction=COUNTY, agency="police")
TODAY = datetime.now(LOCAL).date()


@pytest.fixture(scope="module")
async def referral(infra) -> AsyncIterator[httpx.AsyncClient]:
    async with service_in_process(infra, "referral") as client:
        yield client


@pytest.fixture
async def sessions(infra):
    await asyncio.to_thread(upgrade, "referral", infra.database_url)
    engine = create_async_engine(infra.database_url)
    yield make_session_factory(engine)
    await engine.dispose()


async def _graded_case(sessions, needs: list[str]) -> uuid.UUID:
    """A case as referral knows it from its grade and plan (case.assessed), at a village of the county."""
    case_id = uuid.uuid4()
    async with sessions.begin() as session:
        await session.execute(
            t.cases.insert(),
            [
                {
                    "case_id": case_id,
                    "jurisdiction": VILLAGE,
                    "risk_level": "red",
                    "emergency": False,
                    "categories": ["left_behind"],
                    "needs": needs,
                    "stage": "plan",
                    "case_number": f"140402-2026-{uuid.uuid4().int % 10**7:07d}",
                }
            ],
        )
    return case_id


async def _provider(referral, **body) -> dict:
    answer = await referral.post("/v1/providers", json={"territory": COUNTY, **body}, headers=SUPERVISOR)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _plan(referral, case_id, **body) -> httpx.Response:
    return await referral.post(f"/v1/cases/{case_id}/services", json=body, headers=CASEWORKER)


async def test_a_plan_becomes_services_a_provider_delivers_and_a_contract_answers_for(
    referral, sessions
) -> None:
    case_id = await _graded_case(sessions, ["psychological", "living", "legal"])
    sunflower = await _provider(
        referral, name="向日葵社工服务中心", kind="social_work_organisation", kinds=["counselling"]
    )
    civil = await _provider(
        referral,
        name="城区民政局",
        kind="agency_office",
        agency="civil_affairs",
        kinds=["minimum_living_allowance", "temporary_assistance"],
    )
    lawyers = await _provider(
        referral, name="城区法律援助中心", kind="legal_organisation", kinds=["legal_aid"]
    )
    contract = await referral.post(
        f"/v1/providers/{sunflower['provider_id']}/contracts",
        json={
            "reference": f"CQ-{uuid.uuid4().hex[:8]}",
            "territory": COUNTY,
            "starts_on": str(TODAY - timedelta(days=30)),
            "ends_on": str(TODAY + timedelta(days=335)),
            "budget": "120000.00",
            "units": {"counselling": 20},
        },
        headers=SUPERVISOR,
    )
    assert contract.status_code == 201, contract.text

    due = str(TODAY + timedelta(days=14))
    counselling = await _plan(
        referral,
        case_id,
        kind="counselling",
        provider_id=sunflower["provider_id"],
        due_on=due,
        units_planned=6,
    )
    living = await _plan(
        referral,
        case_id,
        kind="minimum_living_allowance",
        provider_id=civil["provider_id"],
        due_on=due,
        note="低保申请材料已交村委会",
    )
    legal = await _plan(referral, case_id, kind="legal_aid", provider_id=lawyers["provider_id"], due_on=due)
    assert [a.status_code for a in (counselling, living, legal)] == [201, 201, 201], legal.text
    counselling = counselling.json()
    assert (counselling["state"], counselling["provider_name"], counselling["units_planned"]) == (
        "planned",
        "向日葵社工服务中心",
        6,
    )

    # What the plan or the provider cannot carry is refused in words; another county's caseworker
    # does not find the case.
    refused = await _plan(
        referral, case_id, kind="school_return", provider_id=civil["provider_id"], due_on=due
    )
    assert (refused.status_code, refused.json()["detail"]) == (409, "the case's plan names no education need")
    refused = await _plan(
        referral, case_id, kind="legal_aid", provider_id=sunflower["provider_id"], due_on=due
    )
    assert (refused.status_code, refused.json()["detail"]) == (409, "the provider does not give legal_aid")
    elsewhere = await referral.post(
        f"/v1/cases/{case_id}/services",
        json={"kind": "legal_aid", "provider_id": lawyers["provider_id"], "due_on": due},
        headers=ELSEWHERE,
    )
    assert elsewhere.status_code == 404

    # The organisation's worker sees its own service alone.
    worker = token(
        Role.provider_worker, "sw-services", jurisdiction=COUNTY, provider=sunflower["provider_id"]
    )
    mine = await referral.get("/v1/services", params={"case_id": str(case_id)}, headers=worker)
    assert [s["kind"] for s in mine.json()] == ["counselling"]
    assert mine.json()[0]["actions"] == ["accept", "start", "unit", "deliver", "not_deliver"]
    living_id, legal_id = living.json()["service_id"], legal.json()["service_id"]
    assert (await referral.get(f"/v1/services/{living_id}", headers=worker)).status_code == 404
    late = await referral.post(
        f"/v1/services/{legal_id}/units", json={"delivered_on": str(TODAY)}, headers=worker
    )
    assert late.status_code == 404, "another provider's service is not theirs to record"
    # Civil affairs' officers answer for their office's service; the police's do not see it.
    civil_sees = await referral.get("/v1/services", params={"case_id": str(case_id)}, headers=CIVIL_AFFAIRS)
    assert [s["kind"] for s in civil_sees.json()] == ["minimum_living_allowance"]
    police_sees = await referral.get("/v1/services", params={"case_id": str(case_id)}, headers=POLICE)
    assert police_sees.json() == []

    service_id = counselling["service_id"]
    accepted = await referral.post(
        f"/v1/services/{service_id}/progress",
        json={"action": "accept", "note": "已电话联系家长"},
        headers=worker,
    )
    assert accepted.json()["state"] == "accepted"
    for n in range(3):
        session_day = str(TODAY - timedelta(days=2 - n))
        unit = await referral.post(
            f"/v1/services/{service_id}/units",
            json={"delivered_on": session_day, "note": f"第{n + 1}次心理辅导"},
            headers=worker,
        )
        assert (unit.status_code, unit.json()["units_delivered"]) == (200, n + 1)
    tomorrow = await referral.post(
        f"/v1/services/{service_id}/units",
        json={"delivered_on": str(TODAY + timedelta(days=2))},
        headers=worker,
    )
    assert tomorrow.status_code == 422 and tomorrow.json()["detail"][0]["loc"] == ["body", "delivered_on"]
    done = await referral.post(
        f"/v1/services/{service_id}/progress",
        json={"action": "deliver", "outcome": "need_met", "note": "情绪稳定，已复学"},
        headers=worker,
    )
    assert (done.json()["state"], done.json()["outcome"], done.json()["actions"]) == (
        "delivered",
        "need_met",
        [],
    )
    again = await referral.post(
        f"/v1/services/{service_id}/units", json={"delivered_on": str(TODAY)}, headers=worker
    )
    assert (again.status_code, again.json()["detail"]) == (
        409,
        "cannot record a unit of a service that is delivered",
    )

    feedback = await referral.post(
        f"/v1/services/{service_id}/feedback",
        json={"satisfaction": 4, "given_by": "family"},
        headers=CASEWORKER,
    )
    assert feedback.status_code == 201, feedback.text

    card = await referral.get(f"/v1/contracts/{contract.json()['contract_id']}/scorecard", headers=SUPERVISOR)
    assert card.status_code == 200, card.text
    card = card.json()
    assert card["units"] == [{"kind": "counselling", "purchased": 20, "delivered": 3}]
    assert (card["services_due"], card["delivered_on_time"], card["on_time_share"]) == (1, 1, 1.0)
    assert card["outcomes"]["need_met"] == 1 and card["mean_satisfaction"] == 4.0

    # Every change is one service.changed in the outbox: codes and counts, never what people wrote.
    async with sessions() as session:
        payloads = (
            await session.scalars(
                select(OUTBOX.c.payload).where(OUTBOX.c.aggregate_id == str(case_id)).order_by(OUTBOX.c.seq)
            )
        ).all()
    text = " ".join(str(p) for p in payloads)
    assert text.count("service.changed") == 3 + 1 + 3 + 1
    assert "心理辅导" not in text and "低保" not in text and "情绪" not in text


async def test_a_service_left_open_past_its_due_date_climbs_to_the_county(referral, sessions) -> None:
    case_id = await _graded_case(sessions, ["legal"])
    lawyers = await _provider(referral, name="城区律师事务所", kind="legal_organisation", kinds=["legal_aid"])
    planned = await _plan(
        referral, case_id, kind="legal_aid", provider_id=lawyers["provider_id"], due_on=str(TODAY)
    )
    service_id = uuid.UUID(planned.json()["service_id"])
    after_due = datetime.combine(TODAY + timedelta(days=1), datetime.min.time(), tzinfo=LOCAL) + timedelta(
        hours=1
    )
    holders = []
    for later in (after_due, after_due + timedelta(days=3, hours=1)):
        res = Resources(load_routes(), "http://referral", clock=lambda moment=later: moment)
        while True:  # other tests' open services may be due too: sweep until none is left
            async with committed(sessions.begin, UnitOfWork("referral", TableOutbox(OUTBOX))) as work:
                if not await escalate_overdue_services(work, res):
                    break
        async with sessions() as session:
            holders.append(
                await session.scalar(select(t.services.c.holder).where(t.services.c.id == service_id))
            )
    assert holders == ["140402001000", "140402000000"], "the township first, the county three days on"
    listed = await referral.get(
        "/v1/services", params={"overdue": "true", "case_id": str(case_id)}, headers=SUPERVISOR
    )
    # The real clock: due today, so not yet overdue by it; the sweep ran on an injected one.
    assert listed.json() == []
    async with sessions() as session:
        events = (
            await session.scalars(
                select(OUTBOX.c.event_type)
                .where(OUTBOX.c.aggregate_id == str(case_id))
                .order_by(OUTBOX.c.seq)
            )
        ).all()
    assert list(events) == ["service.changed", "service.escalated", "service.escalated"]
    async with sessions.begin() as session:  # leave no open service due in the past for other tests
        await session.execute(delete(t.services).where(t.services.c.id == service_id))


async def test_a_guardianship_transfer_lawsuit_is_recorded_step_by_step_on_the_case(
    referral, sessions
) -> None:
    case_id = await _graded_case(sessions, ["legal", "guardianship"])
    lawyers = await _provider(
        referral, name="城区法律援助中心", kind="legal_organisation", kinds=["guardianship_transfer_lawsuit"]
    )
    planned = await _plan(
        referral,
        case_id,
        kind="guardianship_transfer_lawsuit",
        provider_id=lawyers["provider_id"],
        due_on=str(TODAY + timedelta(days=120)),
    )
    service_id = planned.json()["service_id"]
    assert "step" in planned.json()["actions"], "the case's side records the court's steps too"
    days = [TODAY - timedelta(days=30), TODAY - timedelta(days=20), TODAY - timedelta(days=5), TODAY]
    out_of_order = await referral.post(
        f"/v1/services/{service_id}/steps", json={"step": "hearing", "on": str(days[0])}, headers=CASEWORKER
    )
    assert (out_of_order.status_code, out_of_order.json()["detail"]) == (
        409,
        "the next step is application",
    ), out_of_order.text
    for step, day in zip(["application", "accepted", "hearing"], days, strict=False):
        taken = await referral.post(
            f"/v1/services/{service_id}/steps",
            json={"step": step, "on": str(day), "note": "向法院递交撤销监护资格申请书"},
            headers=CASEWORKER,
        )
        assert taken.status_code == 200, taken.text
    judgement = {"step": "judgement", "on": str(days[3])}
    no_result = await referral.post(f"/v1/services/{service_id}/steps", json=judgement, headers=CASEWORKER)
    assert no_result.status_code == 422 and no_result.json()["detail"][0]["loc"] == ["body", "result"]
    judged = await referral.post(
        f"/v1/services/{service_id}/steps",
        json={**judgement, "result": "guardianship_transferred"},
        headers=CASEWORKER,
    )
    assert [(s["step"], s["on"]) for s in judged.json()["steps"]] == [
        ("application", str(days[0])),
        ("accepted", str(days[1])),
        ("hearing", str(days[2])),
        ("judgement", str(days[3])),
    ]
    assert judged.json()["steps"][-1]["result"] == "guardianship_transferred"
    assert "step" not in judged.json()["actions"], "every step is recorded"
    async with sessions() as session:
        payloads = (
            await session.scalars(select(OUTBOX.c.payload).where(OUTBOX.c.aggregate_id == str(case_id)))
        ).all()
    assert sum('"step":"' in p or '"step": "' in p for p in payloads) == 4
    assert not any("申请书" in p for p in payloads), "the notes stay sealed with referral"


async def test_a_complaint_is_recorded_found_once_with_a_reason_and_counted_on_the_scorecard(
    referral, sessions
) -> None:
    case_id = await _graded_case(sessions, ["psychological"])
    helpers = await _provider(
        referral, name="阳光社工服务站", kind="social_work_organisation", kinds=["counselling"]
    )
    contract = await referral.post(
        f"/v1/providers/{helpers['provider_id']}/contracts",
        json={
            "reference": f"TS-{uuid.uuid4().hex[:8]}",
            "territory": COUNTY,
            "starts_on": str(TODAY - timedelta(days=30)),
            "ends_on": str(TODAY + timedelta(days=335)),
            "budget": "30000.00",
            "units": {"counselling": 10},
        },
        headers=SUPERVISOR,
    )
    assert contract.status_code == 201, contract.text
    service = await _plan(
        referral, case_id, kind="counselling", provider_id=helpers["provider_id"], due_on=str(TODAY)
    )
    service_id = service.json()["service_id"]

    complaint = {"kind": "staff_conduct", "made_by": "family", "received_on": str(TODAY)}
    future = await referral.post(
        f"/v1/services/{service_id}/complaints",
        json={**complaint, "received_on": str(TODAY + timedelta(days=2))},
        headers=CASEWORKER,
    )
    assert future.status_code == 422 and future.json()["detail"][0]["loc"] == ["body", "received_on"]
    elsewhere = await referral.post(
        f"/v1/services/{service_id}/complaints", json=complaint, headers=ELSEWHERE
    )
    assert elsewhere.status_code == 404
    made = await referral.post(
        f"/v1/services/{service_id}/complaints",
        json={**complaint, "note": "社工上门时态度粗暴，孩子不愿再见"},
        headers=CASEWORKER,
    )
    assert made.status_code == 201, made.text
    complaint_id = made.json()["complaint_id"]
    assert (made.json()["kind"], made.json()["finding"]) == ("staff_conduct", None)

    handling = f"/v1/complaints/{complaint_id}/handling"
    assert (
        await referral.post(handling, json={"finding": "upheld", "note": "核实"}, headers=CASEWORKER)
    ).status_code == 403
    unexplained = await referral.post(handling, json={"finding": "upheld"}, headers=SUPERVISOR)
    assert unexplained.status_code == 422 and unexplained.json()["detail"][0]["loc"] == ["body", "note"]
    found = await referral.post(
        handling, json={"finding": "upheld", "note": "约谈机构负责人，更换社工"}, headers=SUPERVISOR
    )
    assert found.status_code == 200, found.text
    assert (found.json()["finding"], found.json()["handled_on"]) == ("upheld", str(TODAY))
    again = await referral.post(handling, json={"finding": "not_upheld", "note": "复核"}, headers=SUPERVISOR)
    assert again.status_code == 409, "found once"

    card = await referral.get(f"/v1/contracts/{contract.json()['contract_id']}/scorecard", headers=SUPERVISOR)
    assert card.json()["complaints"] == {"received": 1, "upheld": 1, "not_upheld": 0, "open": 0}
    listed = await referral.get(
        "/v1/complaints", params={"provider_id": helpers["provider_id"]}, headers=SUPERVISOR
    )
    assert [c["complaint_id"] for c in listed.json()] == [complaint_id]

    async with sessions() as session:
        events = (
            await session.scalars(
                select(OUTBOX.c.payload)
                .where(OUTBOX.c.aggregate_id == str(case_id), OUTBOX.c.event_type == "service.complaint")
                .order_by(OUTBOX.c.seq)
            )
        ).all()
    assert [json.loads(e)["payload"]["finding"] for e in events] == [None, "upheld"]
    assert all("社工" not in str(e) and "约谈" not in str(e) for e in events), (
        "what people wrote stays sealed"
    )
    async with sessions.begin() as session:  # leave no open service due in the past for other tests
        await session.execute(delete(t.complaints).where(t.complaints.c.service_id == uuid.UUID(service_id)))
        await session.execute(delete(t.services).where(t.services.c.id == uuid.UUID(service_id)))
