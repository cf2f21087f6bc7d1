"""A child moves county: the case goes with it once the receiving county's supervisor accepts —
on the real stack, every service running as a process. The new county's people list it, own it
and read the child's details; the old county's can no longer read them; its open referral and
its visits are the new county's; both counties' reads are on the ledger, and each county reads
of the timeline what is its own."""

from __future__ import annotations

import uuid

import httpx

from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import assignment, hotline_report, token
from tests.e2e.test_access_audit import access_log, eventually
from tests.e2e.test_casework import ASSIGNED, SUPERVISOR, TOWNSHIP, VILLAGE, _case
from tests.e2e.test_intake_assessment import REPORTED, by_external_id, kcat_produce, of_case
from tests.e2e.watch import TopicWatcher

TRANSFERRED, POLICE = "case.transferred", "referral.to.police"
LUZHOU_VILLAGE, LUZHOU_TOWN, LUZHOU = "140403100201", "140403100000", "140403"  # another county of the city
LUZHOU_SUPERVISOR = token(Role.supervisor, "sup-luzhou", jurisdiction=LUZHOU)
PURPOSE = {"purpose": "case_planning"}
NOT_IN_THE_REGISTRY = "14040300" + "9999"  # a well-formed code of no node


async def test_a_transfer_accepted_by_the_other_countys_supervisor_moves_the_case_and_who_may_read_it(
    infra, services: RunningServices
) -> None:
    old_worker, new_worker = f"cw-{uuid.uuid4().hex[:8]}", f"cw-{uuid.uuid4().hex[:8]}"
    old = token(Role.caseworker, old_worker, jurisdiction="140402")
    new = token(Role.caseworker, new_worker, jurisdiction=LUZHOU)
    red = hotline_report()  # abuse, immediate danger: referred to the police at once
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSIGNED, POLICE]) as watcher:
        kcat_produce(infra.kafka_bootstrap, red)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(red["external_id"]), timeout=60)
        case_id, child_ref = reported.json()["case_id"], reported.json()["payload"]["child_ref"]
        await watcher.wait_for(ASSIGNED, of_case(case_id), timeout=60)
        (police,) = await watcher.wait_for(POLICE, of_case(case_id), timeout=60)
    referral_id = police.json()["payload"]["referral_id"]

    async with httpx.AsyncClient(base_url=services.urls["casework"]) as http:
        await _case(http, case_id, SUPERVISOR)
        assert (
            await http.post(
                f"/v1/cases/{case_id}/assignment", json=assignment(old_worker), headers=SUPERVISOR
            )
        ).status_code == 200
        # Before the move the new county sees nothing of the case.
        assert (await http.get(f"/v1/cases/{case_id}", headers=new)).status_code == 404

        nowhere = await http.post(
            f"/v1/cases/{case_id}/approvals",
            headers=old,
            json={"kind": "transfer", "reason": "family_moved", "to_jurisdiction": NOT_IN_THE_REGISTRY},
        )
        assert nowhere.status_code == 422 and nowhere.json()["detail"][0]["loc"] == [
            "body",
            "to_jurisdiction",
        ]
        undirected = await http.post(
            f"/v1/cases/{case_id}/approvals", headers=old, json={"kind": "transfer", "reason": "family_moved"}
        )
        assert undirected.status_code == 422
        asked = await http.post(
            f"/v1/cases/{case_id}/approvals",
            headers=old,
            json={"kind": "transfer", "reason": "family_moved", "to_jurisdiction": LUZHOU_VILLAGE},
        )
        assert asked.status_code == 201, asked.text
        approval_id = asked.json()["approval_id"]
        # The receiving county's supervisors have it on their list of pending requests, and decide it.
        theirs = (await http.get("/v1/approvals", headers=LUZHOU_SUPERVISOR)).json()
        assert approval_id in {a["approval_id"] for a in theirs}
        sender = await http.post(
            f"/v1/approvals/{approval_id}/decision", json={"approve": True}, headers=SUPERVISOR
        )
        assert sender.status_code == 403, "the county the case leaves does not accept it for the other"
        async with TopicWatcher(infra.kafka_bootstrap, [TRANSFERRED, ASSIGNED]) as watcher:
            accepted = await http.post(
                f"/v1/approvals/{approval_id}/decision", json={"approve": True}, headers=LUZHOU_SUPERVISOR
            )
            assert accepted.status_code == 200 and accepted.json()["state"] == "approved", accepted.text
            (moved,) = await watcher.wait_for(TRANSFERRED, of_case(case_id), timeout=30)
            (owner,) = await watcher.wait_for(
                ASSIGNED,
                lambda seen: (
                    seen.json()["case_id"] == case_id
                    and seen.json()["payload"]["jurisdiction"] == LUZHOU_VILLAGE
                ),
                timeout=30,
            )
        assert moved.json()["payload"] | {"transferred_at": None} == {
            "case_id": case_id,
            "approval_id": approval_id,
            "from_jurisdiction": VILLAGE,
            "jurisdiction": LUZHOU_VILLAGE,
            "reason": "family_moved",
            "requested_by": old_worker,
            "accepted_by": "sup-luzhou",
            "transferred_at": None,
        }
        assert (owner.json()["payload"]["owner_node"], owner.json()["payload"]["previous_owner_ref"]) == (
            LUZHOU_TOWN,
            old_worker,
        )

        # The new county lists it, names its caseworker, who finds it among theirs; the old one
        # no longer sees it.
        case = (await http.get(f"/v1/cases/{case_id}", headers=new)).json()
        assert (case["jurisdiction"], case["owner"]["station"], case["owner"]["caseworker"]) == (
            LUZHOU_VILLAGE,
            LUZHOU_TOWN,
            None,
        )
        listed = (
            await http.get(
                "/v1/cases", params={"owner": "unassigned", "limit": 200}, headers=LUZHOU_SUPERVISOR
            )
        ).json()
        assert case_id in {row["case_id"] for row in listed["cases"]}
        assert (
            await http.post(
                f"/v1/cases/{case_id}/assignment",
                json=assignment(new_worker, LUZHOU),
                headers=LUZHOU_SUPERVISOR,
            )
        ).status_code == 200
        mine = (await http.get("/v1/cases", params={"owner": "me"}, headers=new)).json()
        assert [row["case_id"] for row in mine["cases"]] == [case_id]
        assert (await http.get(f"/v1/cases/{case_id}", headers=old)).status_code == 404
        assert (await http.get(f"/v1/cases/{case_id}", headers=TOWNSHIP_SUPERVISOR)).status_code == 404

    # The child's details: the new county's caseworker reads them (once intake heard of the move);
    # the old county's is refused, and both attempts are on the ledger.
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
        shown = await eventually(
            lambda: http.get(f"/v1/cases/{case_id}/child", params=PURPOSE, headers=new),
            lambda a: a.status_code == 200,
        )
        assert shown.status_code == 200, shown.text
        assert shown.json()["jurisdiction"] == LUZHOU_VILLAGE
        assert (await http.get(f"/v1/cases/{case_id}/child", params=PURPOSE, headers=old)).status_code == 404
    log = await access_log(
        services,
        child_ref,
        until=lambda log: (
            {(e["accessor_ref"], e["outcome"]) for e in log}
            >= {(new_worker, "shown"), (old_worker, "refused")}
        ),
    )
    refused = next(e for e in log if e["accessor_ref"] == old_worker)
    assert refused["refusal"] == "outside_territory" and refused["fields"] == []

    # The open police referral, the visit plan and the grade follow the case to the new county.
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as http:
        referral = await eventually(
            lambda: http.get(f"/v1/referrals/{referral_id}", headers=LUZHOU_SUPERVISOR),
            lambda a: a.status_code == 200,
        )
        assert referral.status_code == 200, referral.text
        assert referral.json()["jurisdiction"] == LUZHOU_VILLAGE
        assert (await http.get(f"/v1/referrals/{referral_id}", headers=SUPERVISOR)).status_code == 404
    async with httpx.AsyncClient(base_url=services.urls["followup"]) as http:
        plan = await eventually(
            lambda: http.get(f"/v1/cases/{case_id}/plan", headers=new), lambda a: a.status_code == 200
        )
        assert plan.status_code == 200, plan.text
        assert (await http.get(f"/v1/cases/{case_id}/plan", headers=old)).status_code == 404
    async with httpx.AsyncClient(base_url=services.urls["assessment"]) as http:
        grade = await eventually(
            lambda: http.get(f"/v1/cases/{case_id}/assessment", headers=new), lambda a: a.status_code == 200
        )
        assert grade.status_code == 200 and grade.json()["jurisdiction"] == LUZHOU_VILLAGE, grade.text

    # The timeline: the new county reads it whole; the old one what happened until it let it go.
    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        whole = await eventually(
            lambda: http.get(f"/v1/cases/{case_id}/timeline", headers=new),
            lambda a: a.status_code == 200 and sum(s["event_type"] == "case.assigned" for s in a.json()) == 4,
        )
        kinds = [step["event_type"] for step in whole.json()]
        assert {"case.reported", "case.assessed", "case.approval_requested", "case.transferred"} <= set(
            kinds
        ), kinds
        before = (await http.get(f"/v1/cases/{case_id}/timeline", headers=old)).json()
        assert "case.transferred" in {s["event_type"] for s in before}
        owners = [s["payload"]["owner_ref"] for s in before if s["event_type"] == "case.assigned"]
        assert old_worker in owners and new_worker not in owners, owners


TOWNSHIP_SUPERVISOR = token(Role.supervisor, "sup-township", jurisdiction=TOWNSHIP[:9])
