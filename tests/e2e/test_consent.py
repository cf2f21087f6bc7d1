"""Consent and assent on the real stack (every service a process, the real broker, the agency kit as a
process): a social-work organisation delivering a service is refused the child's details until the
family consents or a supervisor overrides with a reason, and the override is on the ledger; the police
on an emergency are never refused; a withdrawal reaches the agency's kit as an event and refuses the
agency's next read."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from services.referral.provision import LOCAL
from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import assignment, hotline_report, token
from tests.e2e.test_access_audit import access_log, reported_to_police
from tests.e2e.test_agency_kit_stop import start_kit
from tests.e2e.test_casework import _case, reported_and_owned

COUNTY = "140402"
# A village no other test reports from: the agency kit below takes this territory's referrals alone.
VILLAGE = "140402002001"
SUPERVISOR = token(Role.supervisor, "sup-consent", jurisdiction=COUNTY)
AUDITOR = token(Role.auditor, "inspector-consent")
READ = {"purpose": "protection_action"}


async def _until(read, holds, what: str, *, tries: int = 600):
    found = None
    for _ in range(tries):
        found = await read()
        if holds(found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: {getattr(found, 'text', found)}")


async def _service_for_a_social_work_organisation(services: RunningServices, case_id: str, mine: dict) -> str:
    """The plan's counselling, planned for a contracted social-work organisation; its provider's id."""
    async with (
        httpx.AsyncClient(base_url=services.urls["assessment"]) as assessment,
        httpx.AsyncClient(base_url=services.urls["referral"]) as referral,
    ):
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
                "name": "阳光社工服务中心",
                "kind": "social_work_organisation",
                "territory": COUNTY,
                "kinds": ["counselling"],
            },
            headers=SUPERVISOR,
        )
        assert provider.status_code == 201, provider.text
        provider_id = provider.json()["provider_id"]
        due = str((datetime.now(LOCAL) + timedelta(days=14)).date())
        await _until(
            lambda: referral.post(
                f"/v1/cases/{case_id}/services",
                json={"kind": "counselling", "provider_id": provider_id, "due_on": due, "units_planned": 6},
                headers=mine,
            ),
            lambda a: a.status_code == 201,
            "referral never learned the plan's need",
        )
    return provider_id


async def test_a_provider_reads_only_with_consent_or_a_supervisors_override_on_the_ledger(
    infra, services: RunningServices
) -> None:
    caseworker = f"cw-{uuid.uuid4().hex[:8]}"
    mine = token(Role.caseworker, caseworker, jurisdiction=COUNTY)
    case_id = await reported_and_owned(infra, hotline_report(jurisdiction=VILLAGE))
    async with (
        httpx.AsyncClient(base_url=services.urls["casework"]) as casework,
        httpx.AsyncClient(base_url=services.urls["intake"]) as intake,
    ):
        await _case(casework, case_id, SUPERVISOR)
        owned = await casework.post(
            f"/v1/cases/{case_id}/assignment", json=assignment(caseworker), headers=SUPERVISOR
        )
        assert owned.status_code == 200, owned.text
        provider_id = await _service_for_a_social_work_organisation(services, case_id, mine)
        worker = token(Role.provider_worker, "sw-consent", jurisdiction=COUNTY, provider=provider_id)
        details = f"/v1/cases/{case_id}/child"

        # Intake hears of the service on `service.status`: from then on the refusal is the consent's.
        refused = await _until(
            lambda: intake.get(details, params=READ, headers=worker),
            lambda a: a.status_code != 404,
            "intake never heard of the service",
        )
        assert refused.status_code == 403, refused.text
        assert "no consent" in refused.json()["detail"]
        assert "social_work_organisation" in refused.json()["detail"]

        # A guardian's consent to education alone, and the child's assent (aged 10) to the organisation:
        # neither lets the organisation read.
        for given in (
            {"given_by": "guardian", "way": "written", "parties": ["education"]},
            {"given_by": "child", "way": "verbal", "parties": ["social_work_organisation"]},
        ):
            recorded = await intake.post(
                f"/v1/cases/{case_id}/consents",
                json={**given, "given_on": str(datetime.now(LOCAL).date())},
                headers=mine,
            )
            assert recorded.status_code == 201, recorded.text
        state = recorded.json()
        assert [r["kind"] for r in state["records"]] == ["assent", "consent"]
        assert state["sharing"] == {"education": "consent"}
        still = await intake.get(details, params=READ, headers=worker)
        assert still.status_code == 403, still.text

        not_theirs = await intake.post(
            f"/v1/cases/{case_id}/consent-overrides",
            json={"reason": "best_interests", "parties": ["social_work_organisation"], "note": "见谈话记录"},
            headers=mine,
        )
        assert not_theirs.status_code == 403, "only a supervisor overrides"
        unexplained = await intake.post(
            f"/v1/cases/{case_id}/consent-overrides",
            json={"reason": "best_interests", "parties": ["social_work_organisation"]},
            headers=SUPERVISOR,
        )
        assert unexplained.status_code == 422 and unexplained.json()["detail"][0]["loc"] == ["body", "note"]
        overridden = await intake.post(
            f"/v1/cases/{case_id}/consent-overrides",
            json={
                "reason": "best_interests",
                "parties": ["social_work_organisation"],
                "note": "监护人长期外出务工联系不上，心理疏导不能再等",
            },
            headers=SUPERVISOR,
        )
        assert overridden.status_code == 201, overridden.text
        override = next(r for r in overridden.json()["records"] if r["kind"] == "override")
        assert overridden.json()["sharing"]["social_work_organisation"] == "override"

        read = await intake.get(details, params=READ, headers=worker)
        assert read.status_code == 200, read.text
        shown = read.json()
        assert "national_id" not in shown["identity"] and "reporter" not in read.text
        assert shown["shown"] == [
            "name",
            "sex",
            "birth_date",
            "age_estimate",
            "address",
            "school",
            "narratives",
        ]
        child_ref = shown["child_ref"]

    log = await access_log(
        services,
        child_ref,
        until=lambda log: (
            any(e["access_id"] == shown["access_id"] for e in log)
            and sum(e.get("refusal") == "no_consent" for e in log) >= 2
        ),
    )
    mine_read = next(e for e in log if e["access_id"] == shown["access_id"])
    assert (mine_read["accessor_role"], mine_read["provider_id"], mine_read["consent_id"]) == (
        "provider_worker",
        provider_id,
        override["consent_id"],
    )
    assert mine_read["service_id"] is not None
    refusals = [e for e in log if e["outcome"] == "refused"]
    # Before intake heard of the service its worker was refused as a stranger; then for want of consent.
    assert {e["refusal"] for e in refusals} <= {"no_open_service", "no_consent"}
    assert all(e["fields"] == [] and e["consent_id"] is None for e in refusals)

    async with httpx.AsyncClient(base_url=services.urls["audit"]) as audit:
        timeline = await _until(
            lambda: audit.get(f"/v1/cases/{case_id}/timeline", headers=AUDITOR),
            lambda a: [s["event_type"] for s in a.json()].count("consent.changed") == 3,
            "the ledger never recorded the consents and the override",
        )
    (recorded_override,) = [
        s
        for s in timeline.json()
        if s["event_type"] == "consent.changed" and s["payload"]["kind"] == "override"
    ]
    assert recorded_override["payload"]["reason"] == "best_interests"
    assert recorded_override["payload"]["recorded_by"] == "sup-consent"
    assert "联系不上" not in timeline.text, "what the supervisor wrote stays sealed in intake"


async def test_the_police_on_an_emergency_are_never_refused_and_a_withdrawal_reaches_the_kit(
    infra, services: RunningServices, tmp_path: Path
) -> None:
    report, accepted, _police_referral = await reported_to_police(
        infra, services, hotline_report(jurisdiction=VILLAGE)
    )
    case_id = accepted["case_id"]
    details = f"{services.urls['intake']}/v1/cases/{case_id}/child"
    police = token(Role.agency_officer, "police-consent", agency="police")
    federation = token(Role.agency_officer, "wf-consent", agency="womens_federation")
    caseworker = token(Role.caseworker, "cw-consent", jurisdiction=COUNTY)

    out = tmp_path / "womens_federation.jsonl"
    kit = await start_kit(out, VILLAGE, infra, agency="womens_federation")
    try:
        async with httpx.AsyncClient() as http:
            # No consent recorded at all: the police read a child in immediate danger.
            read = await _until(
                lambda: http.get(details, params=READ, headers=police),
                lambda a: a.status_code == 200,
                "the police were never let read the emergency",
            )
            assert read.json()["identity"]["name"] == report["child"]["name"]
            # The women's federation, referred the same case, needs the family's consent.
            refused = await _until(
                lambda: http.get(details, params=READ, headers=federation),
                lambda a: a.status_code != 404,
                "intake never heard of the federation's referral",
            )
            assert refused.status_code == 403 and "womens_federation" in refused.json()["detail"]

            consent = await http.post(
                f"{services.urls['intake']}/v1/cases/{case_id}/consents",
                json={
                    "given_by": "guardian",
                    "way": "thumbprint",
                    "parties": ["womens_federation", "police"],
                    "given_on": str(datetime.now(LOCAL).date()),
                    "note": "母亲按手印同意",
                },
                headers=caseworker,
            )
            assert consent.status_code == 201, consent.text
            consent_id = consent.json()["records"][0]["consent_id"]
            allowed = await http.get(details, params=READ, headers=federation)
            assert allowed.status_code == 200, allowed.text

            withdrawn = await http.post(
                f"{services.urls['intake']}/v1/consents/{consent_id}/withdrawal",
                json={"note": "母亲来电撤回同意"},
                headers=caseworker,
            )
            assert withdrawn.status_code == 200, withdrawn.text
            assert withdrawn.json()["sharing"] == {}
            again = await http.post(
                f"{services.urls['intake']}/v1/consents/{consent_id}/withdrawal", json={}, headers=caseworker
            )
            assert again.status_code == 409, "withdrawn once"

            told = await _until(
                lambda: _read_lines(out),
                lambda lines: any(
                    line["event_type"] == "consent.withdrawn" and line["payload"]["case_id"] == case_id
                    for line in lines
                ),
                "the kit never handed the withdrawal over",
                tries=600,
            )
            (word,) = [line for line in told if line["event_type"] == "consent.withdrawn"]
            assert (
                word["payload"]["agency"] == "womens_federation"
                and word["payload"]["consent_id"] == consent_id
            )
            assert "撤回" not in json.dumps(told), "the note stays in intake"

            next_read = await http.get(details, params=READ, headers=federation)
            assert next_read.status_code == 403, next_read.text
            # The withdrawal named the police too; an emergency is still theirs to read.
            police_again = await http.get(details, params=READ, headers=police)
            assert police_again.status_code == 200, police_again.text
    finally:
        kit.send_signal(signal.SIGTERM)
        await asyncio.wait_for(kit.wait(), timeout=60)


async def _read_lines(out: Path) -> list[dict]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
