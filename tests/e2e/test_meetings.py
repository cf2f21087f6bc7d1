"""Joint meetings over referral's API on the real stack: what a meeting may record and for whom, the
ledger holding its decisions and action items as codes (never what was said), and the minutes read on
the access ledger, one read of each case's notes with its purpose."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg
import httpx

from services.referral.provision import LOCAL
from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, token
from tests.e2e.test_access_audit import access_log, eventually, reported_to_police

CHENGQU, VILLAGE = "140402000000", "140402001001"
SUPERVISOR = token(Role.supervisor, "sup-meetings-chengqu", jurisdiction="140402")
ELSEWHERE = token(Role.supervisor, "sup-meetings-luzhou", jurisdiction="140403")
EDUCATION = token(Role.agency_officer, "edu-officer-3", agency="education")
POLICE = token(Role.agency_officer, "police-officer-3", agency="police")


async def test_a_meeting_records_decisions_and_action_items_in_its_own_territory_the_ledger_keeping_codes(
    infra, services: RunningServices
) -> None:
    _, accepted, _ = await reported_to_police(infra, services, hotline_report(jurisdiction=VILLAGE))
    case_id, child_ref = accepted["case_id"], accepted["child_ref"]
    today = datetime.now(LOCAL).date()
    said = f"The school will take her back ({uuid.uuid4().hex[:8]})."
    asked = f"Enrol her by Friday ({uuid.uuid4().hex[:8]})."
    done = f"Enrolled in class 3 ({uuid.uuid4().hex[:8]})."
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as http:
        # Convened for a node of one's own territory only, never dated in the future.
        meeting = {"jurisdiction": CHENGQU, "held_on": today.isoformat(), "present": ["education", "police"]}
        assert (await http.post("/v1/meetings", json=meeting, headers=ELSEWHERE)).status_code == 404
        future = {**meeting, "held_on": (today + timedelta(days=2)).isoformat()}
        refused = await http.post("/v1/meetings", json=future, headers=SUPERVISOR)
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "held_on", (
            refused.text
        )
        township = {**meeting, "jurisdiction": "140402001000"}
        below = await http.post("/v1/meetings", json=township, headers=SUPERVISOR)
        assert below.status_code == 422 and below.json()["detail"][0]["loc"][-1] == "jurisdiction", below.text
        made = await http.post("/v1/meetings", json=meeting, headers=SUPERVISOR)
        assert made.status_code == 201, made.text
        meeting_id = made.json()["meeting_id"]
        assert made.json()["present"] == ["education", "police"]

        # A decision says why; the case must be known to referral (graded) and in the meeting's territory.
        decision = {"case_id": case_id, "decision": "assign_department"}
        missing = await http.post(f"/v1/meetings/{meeting_id}/decisions", json=decision, headers=SUPERVISOR)
        assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "note"]
        unknown = {**decision, "case_id": str(uuid.uuid4()), "note": said}
        assert (
            await http.post(f"/v1/meetings/{meeting_id}/decisions", json=unknown, headers=SUPERVISOR)
        ).status_code == 404
        decided = await eventually(
            lambda: http.post(
                f"/v1/meetings/{meeting_id}/decisions", json={**decision, "note": said}, headers=SUPERVISOR
            ),
            lambda a: a.status_code != 404,
        )
        assert decided.status_code == 201, decided.text
        again = await http.post(
            f"/v1/meetings/{meeting_id}/decisions", json={**decision, "note": said}, headers=SUPERVISOR
        )
        assert again.status_code == 409
        # A case put forward by its number is the same case; naming none (or both) is refused.
        by_number = {"case_number": accepted["case_number"], "decision": "escalate", "note": said}
        assert (
            await http.post(f"/v1/meetings/{meeting_id}/decisions", json=by_number, headers=SUPERVISOR)
        ).status_code == 409
        for named in ({}, {"case_id": case_id, "case_number": accepted["case_number"]}):
            body = {**named, "decision": "escalate", "note": said}
            answer = await http.post(f"/v1/meetings/{meeting_id}/decisions", json=body, headers=SUPERVISOR)
            assert answer.status_code == 422, answer.text

        # An action item: not due before the meeting; for the case decided on.
        item = {"case_id": case_id, "agency": "education", "task": "school_enrolment", "note": asked}
        early = {**item, "due_on": (today - timedelta(days=1)).isoformat()}
        early_answer = await http.post(
            f"/v1/meetings/{meeting_id}/action-items", json=early, headers=SUPERVISOR
        )
        assert early_answer.status_code == 422 and early_answer.json()["detail"][0]["loc"][-1] == "due_on"
        due = (today + timedelta(days=5)).isoformat()
        given = await http.post(
            f"/v1/meetings/{meeting_id}/action-items", json={**item, "due_on": due}, headers=SUPERVISOR
        )
        assert given.status_code == 201, given.text
        item_id = given.json()["action_item_id"]

        # Education sees its own; the police see none of it, and cannot mark it done.
        mine = (await http.get("/v1/action-items", params={"case_id": case_id}, headers=EDUCATION)).json()
        assert [i["action_item_id"] for i in mine] == [item_id] and mine[0]["state"] == "open"
        assert (await http.get("/v1/action-items", params={"case_id": case_id}, headers=POLICE)).json() == []
        done_body = {"note": done}
        assert (
            await http.post(f"/v1/action-items/{item_id}/done", json=done_body, headers=POLICE)
        ).status_code == 404
        assert (
            await http.post(f"/v1/action-items/{item_id}/done", json={}, headers=EDUCATION)
        ).status_code == 422
        marked = await http.post(f"/v1/action-items/{item_id}/done", json=done_body, headers=EDUCATION)
        assert marked.status_code == 200 and marked.json()["state"] == "done", marked.text
        assert (
            await http.post(f"/v1/action-items/{item_id}/done", json=done_body, headers=EDUCATION)
        ).status_code == 409

        # Education reads what it was asked and answered; the police are refused. Both on the ledger.
        read = await http.get(
            f"/v1/action-items/{item_id}/notes", params={"purpose": "protection_action"}, headers=EDUCATION
        )
        assert read.status_code == 200, read.text
        assert [(n["action"], n["text"]) for n in read.json()["notes"]] == [
            ("action_item_done", done),
            ("action_item", asked),
        ]
        refused = await http.get(
            f"/v1/action-items/{item_id}/notes", params={"purpose": "protection_action"}, headers=POLICE
        )
        assert refused.status_code == 404

        # The minutes: every note, each case's read on the access ledger first, with its purpose.
        minutes = await http.get(
            f"/v1/meetings/{meeting_id}/minutes", params={"purpose": "supervision"}, headers=SUPERVISOR
        )
        assert minutes.status_code == 200, minutes.text
        texts = [(n["action"], n["text"]) for n in minutes.json()["notes"]]
        assert texts == [("meeting_decision", said), ("action_item", asked), ("action_item_done", done)]
        (access_id,) = minutes.json()["access_ids"]
        assert (
            await http.get(
                f"/v1/meetings/{meeting_id}/minutes", params={"purpose": "supervision"}, headers=ELSEWHERE
            )
        ).status_code == 404

    log = await access_log(
        services, child_ref, until=lambda log: any(e["access_id"] == access_id for e in log)
    )
    (minutes_read,) = [e for e in log if e["access_id"] == access_id]
    assert (
        minutes_read["record"],
        minutes_read["purpose"],
        minutes_read["outcome"],
        minutes_read["accessor_ref"],
    ) == ("case_notes", "supervision", "shown", "sup-meetings-chengqu")
    by_agencies = sorted(
        (e["agency"], e["outcome"], e.get("action_item_id"), e.get("refusal"))
        for e in log
        if e["agency"] in ("education", "police") and e["record"] == "case_notes"
    )
    assert by_agencies == [("education", "shown", item_id, None), ("police", "refused", None, "other_agency")]

    # The ledger and the case's timeline: the decision and both states of the item, as codes.
    async with httpx.AsyncClient(base_url=services.urls["audit"]) as audit:
        timeline = await eventually(
            lambda: audit.get(f"/v1/cases/{case_id}/timeline", headers=token(Role.auditor, "inspector-4")),
            lambda a: (
                a.status_code == 200
                and len([s for s in a.json() if s["event_type"] == "meeting.action_item"]) == 2
            ),
        )
    steps = [s for s in timeline.json() if s["event_type"].startswith("meeting.")]
    assert [(s["event_type"], s["payload"].get("decision") or s["payload"]["state"]) for s in steps] == [
        ("meeting.decision", "assign_department"),
        ("meeting.action_item", "open"),
        ("meeting.action_item", "done"),
    ]
    conn = await asyncpg.connect(infra.database_url.replace("+asyncpg", ""))
    try:
        entries = await conn.fetch(
            "SELECT record::text FROM audit.ledger WHERE case_id = $1", uuid.UUID(case_id)
        )
    finally:
        await conn.close()
    assert entries and not [e for e in entries if said in e[0] or asked in e[0] or done in e[0]]
