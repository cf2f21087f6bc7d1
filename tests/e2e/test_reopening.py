"""A person reopens a closed case, on the real stack with every service a process: an orange case by its
owner at once, a red one on a supervisor's approval — open again at the stage it had reached, with its
owner and a due date, in casework and in intake; and the refusals: no reason or an unknown one, another
caseworker's case, an open case, a case a link merged away, a case whose child's reports are in another
open case."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from shared.auth import Role
from tests.e2e.closing import closed_on_approval, open_referrals_of
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import assignment, hotline_report, token
from tests.e2e.test_audit import timeline_of
from tests.e2e.test_casework import SUPERVISOR, _case, reported_and_owned
from tests.e2e.test_intake_assessment import of_case
from tests.e2e.test_provisional_children import unnamed_boy
from tests.e2e.watch import TopicWatcher

REOPENED = "case.reopened"
# A left-behind child out of school, aged about ten: orange, referred to education.
ORANGE = {
    "categories": ["left_behind"],
    "indicators": ["left_behind", "out_of_school"],
    "child": {"birth_date": "2015-03-02"},
}


async def _owned_by(infra, services: RunningServices, report: dict, caseworker: str) -> str:
    case_id = await reported_and_owned(infra, report)
    async with httpx.AsyncClient(base_url=services.urls["casework"]) as casework:
        await _case(casework, case_id, SUPERVISOR)
        named = await casework.post(
            f"/v1/cases/{case_id}/assignment", json=assignment(caseworker), headers=SUPERVISOR
        )
        assert named.status_code == 200, named.text
    return case_id


async def _intake_state(urls: dict[str, str], case_id: str, state: str) -> dict:
    """Intake's record of the case once it says `state` (it follows casework's events a moment later)."""
    async with httpx.AsyncClient(base_url=urls["intake"]) as intake:
        for _ in range(200):
            summary = (await intake.get(f"/v1/cases/{case_id}", headers=SUPERVISOR)).json()
            if summary["state"] == state:
                return summary
            await asyncio.sleep(0.05)
    raise AssertionError(f"intake never said case {case_id} is {state}: {summary}")


def _open_with_owner_and_due(case: dict, *, stage: str, caseworker: str) -> None:
    """Open at the stage it had reached, its owner kept, its review due by its grade — nothing dated in the
    future but what is due."""
    now = datetime.now(UTC)
    assert (case["state"], case["stage"], case["owner"]["caseworker"]) == ("open", stage, caseworker), case
    assert case["owner"]["station"] and case["closed_at"] is None and case["closed_reason"] is None
    assert case["next_due_kind"] == "review" and datetime.fromisoformat(case["next_due_at"]) > now
    assert datetime.fromisoformat(case["reopened_at"]) <= now + timedelta(seconds=5)


async def _plan_state(urls: dict[str, str], case_id: str, state: str) -> dict:
    """Follow-up's visit plan of the case once it is in `state` (it hears closures a moment later)."""
    async with httpx.AsyncClient(base_url=urls["followup"]) as followup:
        for _ in range(150):
            plan = (await followup.get(f"/v1/cases/{case_id}/plan", headers=SUPERVISOR)).json()
            if plan.get("state") == state:
                return plan
            await asyncio.sleep(0.2)
    raise AssertionError(f"the visit plan of {case_id} never became {state}: {plan}")


async def test_the_owner_reopens_an_orange_case_where_it_was_and_intake_follows(
    infra, services: RunningServices
) -> None:
    caseworker = f"cw-{uuid.uuid4().hex[:8]}"
    mine = token(Role.caseworker, caseworker, jurisdiction="140402")
    case_id = await _owned_by(infra, services, hotline_report(**ORANGE), caseworker)
    async with httpx.AsyncClient(base_url=services.urls["casework"]) as casework:
        assert (await casework.get(f"/v1/cases/{case_id}", headers=mine)).json()["risk_level"] == "orange"
        screened = await casework.post(
            f"/v1/cases/{case_id}/review", json={"decision": "screened_in"}, headers=mine
        )
        assert screened.status_code == 200, screened.text
        reopen = f"/v1/cases/{case_id}/reopening"
        assert (await casework.post(reopen, json={"reason": "new_risk"}, headers=mine)).status_code == 409, (
            "an open case is not reopened"
        )
        reached, closed = await closed_on_approval(services.urls, case_id, mine, SUPERVISOR)
        assert reached != "closed" and closed["stage"] == "closed" and "reopen" in closed["actions"]
        await _intake_state(services.urls, case_id, "closed")
        assert (await _plan_state(services.urls, case_id, "closed"))["stage"] == "closed", (
            "a closed case is visited no more"
        )

        for body in ({}, {"reason": "felt_like_it"}, {"reason": "risk_resolved"}):
            refused = await casework.post(reopen, json=body, headers=mine)
            assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "reason"], (
                refused.text
            )
        extra = await casework.post(
            reopen, json={"reason": "new_risk", "reopened_by": "someone"}, headers=mine
        )
        assert extra.status_code == 422, "who reopens is the caller"
        colleague = token(Role.caseworker, "cw-colleague", jurisdiction="140402")
        assert (
            await casework.post(reopen, json={"reason": "new_risk"}, headers=colleague)
        ).status_code == 403
        elsewhere = token(Role.supervisor, "sup-luzhou", jurisdiction="140403")
        assert (
            await casework.post(reopen, json={"reason": "new_risk"}, headers=elsewhere)
        ).status_code == 404

        async with TopicWatcher(infra.kafka_bootstrap, [REOPENED]) as watcher:
            answer = await casework.post(
                reopen,
                json={"reason": "family_request", "note": "The grandmother came to the office."},
                headers=mine,
            )
            assert answer.status_code == 200, answer.text
            (told,) = await watcher.wait_for(REOPENED, of_case(case_id), timeout=30)
        _open_with_owner_and_due(answer.json(), stage=reached, caseworker=caseworker)
        assert datetime.fromisoformat(answer.json()["next_due_at"]) <= datetime.now(UTC) + timedelta(
            hours=24
        ), "an orange case is reviewed within 24 hours"
        case = (await casework.get(f"/v1/cases/{case_id}", headers=mine)).json()
        _open_with_owner_and_due(case, stage=reached, caseworker=caseworker)
        assert "review" in case["actions"] and "reopen" not in case["actions"]
        assert told.json()["producer"] == "casework"
        event = told.json()["payload"]
        assert (
            event["reason"],
            event["reopened_by"],
            event["approved_by"],
            event["stage"],
            event["risk_level"],
        ) == ("family_request", caseworker, None, reached, "orange")
        assert "grandmother" not in told.value.decode(), "the note never travels on the bus"
        plan = await _plan_state(services.urls, case_id, "open")
        assert plan["stage"] == reached, "visited again, from the stage it had reached"
        summary = await _intake_state(services.urls, case_id, "open")
        assert summary["case_number"] == case["case_number"], "it keeps its number"
        notes = (
            await casework.get(f"/v1/cases/{case_id}/notes", params={"purpose": "supervision"}, headers=mine)
        ).json()["notes"]
        assert [(n["action"], n["text"]) for n in notes][0] == (
            "reopening",
            "The grandmother came to the office.",
        )

    async with httpx.AsyncClient(base_url=services.urls["audit"]) as audit:
        steps = await timeline_of(audit, case_id, until={"case.closed", REOPENED})
    order = [step["event_type"] for step in steps]
    assert order.index("case.closed") < order.index(REOPENED)


async def test_a_red_case_is_reopened_when_a_supervisor_approves_its_owners_request(
    infra, services: RunningServices
) -> None:
    caseworker = f"cw-{uuid.uuid4().hex[:8]}"
    mine = token(Role.caseworker, caseworker, jurisdiction="140402")
    case_id = await _owned_by(infra, services, hotline_report(), caseworker)
    reached, _ = await closed_on_approval(services.urls, case_id, mine, SUPERVISOR)
    await _intake_state(services.urls, case_id, "closed")
    async with httpx.AsyncClient(base_url=services.urls["casework"]) as casework:
        case = (await casework.get(f"/v1/cases/{case_id}", headers=mine)).json()
        assert (
            case["risk_level"] == "red"
            and "ask_reopen" in case["actions"]
            and "reopen" not in case["actions"]
        )
        direct = await casework.post(
            f"/v1/cases/{case_id}/reopening", json={"reason": "new_risk"}, headers=mine
        )
        assert direct.status_code == 409 and "approval" in direct.json()["detail"], direct.text

        ask = {"kind": "reopen", "reason": "services_still_needed", "note": "The school asks for her again."}
        asked = await casework.post(f"/v1/cases/{case_id}/approvals", json=ask, headers=mine)
        assert asked.status_code == 201, asked.text
        approval = asked.json()
        assert (
            await casework.post(f"/v1/cases/{case_id}/approvals", json=ask, headers=mine)
        ).status_code == 409
        pending = (
            await casework.get("/v1/approvals", params={"case_id": case_id}, headers=SUPERVISOR)
        ).json()
        assert [(a["approval_id"], a["kind"], a["reason"]) for a in pending] == [
            (approval["approval_id"], "reopen", "services_still_needed")
        ], "on the supervisor's list, with why"
        waiting = await casework.post(
            f"/v1/cases/{case_id}/reopening", json={"reason": "new_risk"}, headers=SUPERVISOR
        )
        assert waiting.status_code == 409 and "pending" in waiting.json()["detail"], "the request is decided"

        async with TopicWatcher(infra.kafka_bootstrap, [REOPENED]) as watcher:
            approved = await casework.post(
                f"/v1/approvals/{approval['approval_id']}/decision",
                json={"approve": True},
                headers=SUPERVISOR,
            )
            assert approved.status_code == 200 and approved.json()["state"] == "approved", approved.text
            (told,) = await watcher.wait_for(REOPENED, of_case(case_id), timeout=30)
        event = told.json()["payload"]
        assert (event["reason"], event["reopened_by"], event["approved_by"], event["approval_id"]) == (
            "services_still_needed",
            caseworker,
            "sup-chengqu",
            approval["approval_id"],
        )
        case = (await casework.get(f"/v1/cases/{case_id}", headers=mine)).json()
        _open_with_owner_and_due(case, stage=reached, caseworker=caseworker)
        assert datetime.fromisoformat(case["next_due_at"]) <= datetime.now(UTC) + timedelta(hours=4), (
            "a red case is reviewed within four hours"
        )
        assert case["pending_approvals"] == 0
        again = await casework.post(
            f"/v1/approvals/{approval['approval_id']}/decision", json={"approve": True}, headers=SUPERVISOR
        )
        assert again.status_code == 409
    await _intake_state(services.urls, case_id, "open")
    # Its agencies are referred again: the referrals its closure withdrew stay withdrawn, new ones are made.
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as referral:
        for _ in range(150):
            again = await open_referrals_of(referral, case_id, SUPERVISOR)
            if again:
                break
            await asyncio.sleep(0.2)
        every = (await referral.get("/v1/referrals", params={"case_id": case_id}, headers=SUPERVISOR)).json()
    withdrawn = {r["agency"] for r in every if r["state"] == "withdrawn"}
    assert withdrawn and {r["agency"] for r in again} == withdrawn, (withdrawn, again)
    assert {r["state"] for r in again} == {"created"}


async def test_a_case_a_link_merged_away_is_not_reopened_by_a_person(
    infra, services: RunningServices
) -> None:
    """Closed first, then merged by a link into the provisional child's open case: its reopening is refused
    naming that case. Open when merged, it closed as the duplicate: only the link's undo reopens it."""
    caseworker = f"cw-{uuid.uuid4().hex[:8]}"
    mine = token(Role.caseworker, caseworker, jurisdiction="140402")
    known_case = await _owned_by(infra, services, hotline_report(**ORANGE), caseworker)
    await closed_on_approval(services.urls, known_case, mine, SUPERVISOR)
    boy_case = await reported_and_owned(infra, unnamed_boy())
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as intake:
        known_ref = (await intake.get(f"/v1/cases/{known_case}", headers=mine)).json()["child_ref"]
        boy = (await intake.get(f"/v1/cases/{boy_case}", headers=mine)).json()
        linked = await intake.post(
            f"/v1/children/{boy['child_ref']}/identification",
            json={"child_ref": known_ref, "reason": "home_visit"},
            headers=mine,
        )
        assert linked.status_code == 201, linked.text
        assert (linked.json()["case_id"], linked.json()["merged_case_id"]) == (boy_case, known_case), (
            "the open case remains"
        )

    async with httpx.AsyncClient(base_url=services.urls["casework"]) as casework:
        for _ in range(200):  # casework hears of the link a moment later: it no longer offers the reopening
            if (
                "reopen"
                not in (await casework.get(f"/v1/cases/{known_case}", headers=mine)).json()["actions"]
            ):
                break
            await asyncio.sleep(0.05)
        refused = await casework.post(
            f"/v1/cases/{known_case}/reopening", json={"reason": "new_risk"}, headers=mine
        )
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert (detail["code"], detail["case_id"], detail["case_number"]) == (
            "child_has_open_case",
            boy_case,
            boy["case_number"],
        ), detail
        assert boy["case_number"] in detail["msg"]

        # Two open cases become one: the one merged away closes as the duplicate.
        first = await _owned_by(infra, services, hotline_report(**ORANGE), caseworker)
        second = await reported_and_owned(infra, unnamed_boy())
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as intake:
        first_ref = (await intake.get(f"/v1/cases/{first}", headers=mine)).json()["child_ref"]
        second_ref = (await intake.get(f"/v1/cases/{second}", headers=mine)).json()["child_ref"]
        linked = await intake.post(
            f"/v1/children/{second_ref}/identification",
            json={"child_ref": first_ref, "reason": "later_report"},
            headers=mine,
        )
        assert linked.status_code == 201 and linked.json()["merged_case_id"] == second, linked.text
    async with httpx.AsyncClient(base_url=services.urls["casework"]) as casework:
        for _ in range(200):
            duplicate = (await casework.get(f"/v1/cases/{second}", headers=SUPERVISOR)).json()
            if duplicate["state"] == "closed":
                break
            await asyncio.sleep(0.05)
        assert duplicate["closed_reason"] == "duplicate"
        refused = await casework.post(
            f"/v1/cases/{second}/reopening", json={"reason": "closed_in_error"}, headers=SUPERVISOR
        )
        assert refused.status_code == 409 and refused.json()["detail"]["code"] == "merged_by_link", (
            refused.text
        )
        assert refused.json()["detail"]["case_id"] == first and "undo" in refused.json()["detail"]["msg"]
