"""What a person may do on a case and what waits for them, as the services answer it — on the real
stack, every service running as a process: a hotline operator lists the reports they submitted
(their case's number and state, nobody else's reports), the case says which actions each person may
take (and the API still refuses the others), and the counts of what waits are the very lists they
lead to."""

from __future__ import annotations

import uuid

import httpx

from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import assignment, hotline_report, token
from tests.e2e.test_casework import _case, _every_case

# A township no other test reports in, so its counts are this test's cases alone.
TOWNSHIP, VILLAGE = "140428101", "140428101201"
ELSEWHERE = "140428100201"


async def test_a_report_its_case_what_each_person_may_do_and_what_waits(services: RunningServices) -> None:
    desk = token(Role.hotline, f"hl-{uuid.uuid4().hex[:8]}", jurisdiction="")
    supervisor = token(Role.supervisor, f"sup-{uuid.uuid4().hex[:8]}", jurisdiction=TOWNSHIP)
    owner_id = f"cw-{uuid.uuid4().hex[:8]}"
    owner = token(Role.caseworker, owner_id, jurisdiction=TOWNSHIP)
    colleague = token(Role.caseworker, f"cw-{uuid.uuid4().hex[:8]}", jurisdiction=TOWNSHIP)
    async with (
        httpx.AsyncClient(base_url=services.urls["intake"]) as intake,
        httpx.AsyncClient(base_url=services.urls["casework"]) as casework,
    ):
        # The hotline operator reports a red case; it is theirs to list, with its case, and no one else's.
        sent = await intake.post("/v1/reports", json=hotline_report(jurisdiction=VILLAGE), headers=desk)
        assert sent.status_code == 202, sent.text
        mine = await intake.get("/v1/reports", params={"submitted_by": "me"}, headers=desk)
        assert mine.status_code == 200, mine.text
        (listed,) = mine.json()
        assert listed["report_id"] == sent.json()["report_id"] and listed["case_state"] == "open"
        assert set(listed) == {"report_id", "received_at", "case_id", "case_number", "case_state"}, (
            "ids, a time, the case's number and state: no personal data"
        )
        case_id = listed["case_id"]
        other_desk = token(Role.hotline, f"hl-{uuid.uuid4().hex[:8]}", jurisdiction="")
        theirs = await intake.get("/v1/reports", params={"submitted_by": "me"}, headers=other_desk)
        assert theirs.json() == [], "another operator's list holds none of it"
        unnamed = await intake.get("/v1/reports", headers=desk)
        assert unnamed.status_code == 422 and unnamed.json()["detail"][0]["loc"] == ["query", "submitted_by"]
        school = token(Role.reporter, f"school-{uuid.uuid4().hex[:8]}", jurisdiction="140428")
        # In the neighbouring township: a second red case here could land after the counts below are taken.
        by_school = hotline_report(jurisdiction=ELSEWHERE, channel="school")
        assert (await intake.post("/v1/reports", json=by_school, headers=school)).status_code == 202
        (own,) = (await intake.get("/v1/reports", params={"submitted_by": "me"}, headers=school)).json()
        assert (own["case_id"], own["case_number"], own["case_state"]) == (None, None, None), (
            "an institution learns nothing of the case: not even whether the child was known"
        )
        police = token(Role.agency_officer, "police-1", jurisdiction="140428", agency="police")
        assert (
            await intake.get("/v1/reports", params={"submitted_by": "me"}, headers=police)
        ).status_code == 403, "an agency reports nothing"

        # What each person may do on the new red case, and the API agrees.
        await _case(casework, case_id, supervisor)

        async def may(headers: dict[str, str]) -> set[str]:
            answer = await casework.get(f"/v1/cases/{case_id}", headers=headers)
            assert answer.status_code == 200, answer.text
            return set(answer.json()["actions"])

        assert {"assign", "review", "override_grade", "ask_transfer", "read_child"} <= await may(supervisor)
        assert not {"ask_close", "ask_screen_out"} & await may(supervisor), "a supervisor decides, not asks"
        assert "review" not in await may(colleague) and "record_visit" in await may(colleague)
        auditor = token(Role.auditor, "aud-1", jurisdiction="")
        assert await may(auditor) == set(), "an auditor reads, acts on nothing"
        refused = await casework.post(
            f"/v1/cases/{case_id}/review", json={"decision": "screened_in"}, headers=colleague
        )
        assert refused.status_code == 403, "the API still refuses what the page does not offer"

        # What waits for the supervisor: the new red case among the red ones not reviewed; each count is
        # the number of cases its own list holds.
        async def waiting(headers: dict[str, str]) -> dict[str, dict]:
            answer = await casework.get("/v1/cases/waiting", headers=headers)
            assert answer.status_code == 200, answer.text
            return {count["kind"]: count for count in answer.json()}

        before = await waiting(supervisor)
        assert list(before) == ["new_red", "approvals", "overdue"]
        assert before["new_red"]["worklist"] == {"grade": ["red"], "reviewed": "false"}
        assert before["approvals"]["worklist"] is None
        for count in before.values():
            if count["worklist"] is not None:
                listed = await _every_case(casework, count["worklist"], supervisor)
                assert count["count"] == len(listed), count
        assert case_id in await _every_case(casework, before["new_red"]["worklist"], supervisor)

        # Named its owner, the caseworker reviews it: it is theirs, and no longer new.
        assert (
            await casework.post(
                f"/v1/cases/{case_id}/assignment", json=assignment(owner_id), headers=supervisor
            )
        ).status_code == 200
        assert {"review", "ask_close", "ask_screen_out", "ask_transfer"} <= await may(owner)
        theirs = await waiting(owner)
        assert list(theirs) == ["new_red", "assigned_to_me", "overdue"]
        assert theirs["assigned_to_me"]["count"] == 1
        assert (
            await casework.post(
                f"/v1/cases/{case_id}/review", json={"decision": "screened_in"}, headers=owner
            )
        ).status_code == 200
        assert "review" not in await may(owner)
        assert (await waiting(supervisor))["new_red"]["count"] == before["new_red"]["count"] - 1
        transfer = {"kind": "transfer", "reason": "family_moved", "to_jurisdiction": "140428100201"}
        asked = await casework.post(f"/v1/cases/{case_id}/approvals", json=transfer, headers=owner)
        assert asked.status_code == 201, asked.text
        assert not {"ask_close", "ask_transfer"} & await may(owner), "a transfer waits alone"
        assert (await waiting(supervisor))["approvals"]["count"] == before["approvals"]["count"] + 1
