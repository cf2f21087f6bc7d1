"""The help delivered, on the real stack (every service a process, the real broker): a plan's service
planned over referral's API reaches casework on `service.status` (the case is at its services stage,
and a closure is refused while the service is owed), the provider's worker delivers it and casework
lets the case close; every change is on the ledger, with none of what people wrote."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import httpx

from services.referral.provision import LOCAL
from shared.auth import Role
from tests.e2e.closing import referred_and_heard, withdraw_open_referrals
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import assignment, hotline_report, token
from tests.e2e.test_casework import _case, reported_and_owned

COUNTY = "140402"
SUPERVISOR = token(Role.supervisor, "sup-chengqu", jurisdiction=COUNTY)


async def _until(read, holds, what: str):
    for _ in range(300):
        found = await read()
        if holds(found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: {found}")


async def test_a_service_is_owed_until_delivered_and_the_case_closes_only_then(
    infra, services: RunningServices
) -> None:
    caseworker = f"cw-{uuid.uuid4().hex[:8]}"
    mine = token(Role.caseworker, caseworker, jurisdiction=COUNTY)
    case_id = await reported_and_owned(infra, hotline_report())
    async with (
        httpx.AsyncClient(base_url=services.urls["casework"]) as casework,
        httpx.AsyncClient(base_url=services.urls["assessment"]) as assessment,
        httpx.AsyncClient(base_url=services.urls["referral"]) as referral,
        httpx.AsyncClient(base_url=services.urls["audit"]) as audit,
    ):
        await _case(casework, case_id, SUPERVISOR)
        owned = await casework.post(
            f"/v1/cases/{case_id}/assignment", json=assignment(caseworker), headers=SUPERVISOR
        )
        assert owned.status_code == 200, owned.text
        plan = await assessment.post(
            f"/v1/cases/{case_id}/plans",
            headers=mine,
            json={
                "items": [
                    {"need": "psychological", "agencies": ["social_work"], "action": "weekly_counselling"}
                ]
            },
        )
        assert plan.status_code == 201, plan.text
        provider = await referral.post(
            "/v1/providers",
            json={
                "name": "向日葵社工服务中心",
                "kind": "social_work_organisation",
                "territory": COUNTY,
                "kinds": ["counselling"],
            },
            headers=SUPERVISOR,
        )
        assert provider.status_code == 201, provider.text
        provider_id = provider.json()["provider_id"]
        due = str((datetime.now(LOCAL) + timedelta(days=14)).date())

        async def planned():
            return await referral.post(
                f"/v1/cases/{case_id}/services",
                json={"kind": "counselling", "provider_id": provider_id, "due_on": due, "units_planned": 6},
                headers=mine,
            )

        # The plan's need reaches referral with the grade the plan caused (case.assessed).
        service = await _until(
            planned, lambda a: a.status_code == 201, "referral never learned the plan's need"
        )
        service_id = service.json()["service_id"]

        await referred_and_heard(services.urls, case_id, mine)
        await withdraw_open_referrals(services.urls, case_id, mine, reason="wrong_agency")
        case = await _until(
            lambda: casework.get(f"/v1/cases/{case_id}", headers=mine),
            lambda a: a.json()["stage"] == "services" and a.json()["next_due_kind"] is not None,
            "casework never heard of the service",
        )
        assert case.json()["stage"] == "services"
        held = await casework.post(
            f"/v1/cases/{case_id}/approvals", json={"kind": "close", "reason": "moved_away"}, headers=mine
        )
        assert held.status_code == 409 and held.json()["detail"]["code"] == "open_services", held.text
        assert [s["service_id"] for s in held.json()["detail"]["open_services"]] == [service_id]

        worker = token(Role.provider_worker, "sw-e2e", jurisdiction=COUNTY, provider=provider_id)
        for action in (
            {"action": "accept", "note": "已联系监护人"},
            {"action": "deliver", "outcome": "need_met"},
        ):
            answer = await referral.post(f"/v1/services/{service_id}/progress", json=action, headers=worker)
            assert answer.status_code == 200, answer.text

        async def asked():
            return await casework.post(
                f"/v1/cases/{case_id}/approvals", json={"kind": "close", "reason": "moved_away"}, headers=mine
            )

        request = await _until(asked, lambda a: a.status_code != 409, "casework never heard the delivery")
        assert request.status_code in (200, 201), request.text

        timeline = await _until(
            lambda: audit.get(f"/v1/cases/{case_id}/timeline", headers=token(Role.auditor, "inspector-s")),
            lambda a: [s["event_type"] for s in a.json()].count("service.changed") == 3,
            "the ledger never held the three changes",
        )
        assert "已联系监护人" not in timeline.text
