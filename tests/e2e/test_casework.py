"""Every case has an owner and a worklist finds it — on the real stack, every service running as
a process: a red hotline report is owned by its township station at once, a supervisor names
its caseworker, and it tops that caseworker's list."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from shared.auth import Role
from shared.case_number import CHINA_STANDARD_TIME
from shared.contracts.vocabulary import CASE_NUMBER_PATTERN
from tests.e2e.closing import referred_and_heard, withdraw_open_referrals
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import assignment, hotline_report, token
from tests.e2e.test_audit import timeline_of
from tests.e2e.test_intake_assessment import REPORTED, by_external_id, kcat_produce, of_case
from tests.e2e.watch import TopicWatcher

ASSIGNED, REVIEWED, CLOSED = "case.assigned", "case.reviewed", "case.closed"
VILLAGE, TOWNSHIP = "140402001001", "140402001000"  # the example reports' village and its township
SUPERVISOR = token(Role.supervisor, "sup-chengqu", jurisdiction="140402")  # the county's supervisor


async def _case(http: httpx.AsyncClient, case_id: str, headers: dict[str, str]) -> dict:
    for _ in range(100):  # the grade reaches casework a moment after the report
        answer = await http.get(f"/v1/cases/{case_id}", headers=headers)
        if answer.status_code == 200 and answer.json()["risk_level"] is not None:
            return answer.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"casework never listed case {case_id} with its grade: {answer.status_code}")


async def reported_and_owned(infra, report: dict) -> str:
    """The report on the hotline topic; its case's id once casework owns the case."""
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSIGNED]) as watcher:
        kcat_produce(infra.kafka_bootstrap, report)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(report["external_id"]), timeout=60)
        case_id = reported.json()["case_id"]
        await watcher.wait_for(ASSIGNED, of_case(case_id), timeout=60)
    return case_id


async def _every_case(http: httpx.AsyncClient, params: dict, headers: dict[str, str]) -> list[str]:
    """Every case the list gives, page after page (in the order it gives them)."""
    ids: list[str] = []
    after = None
    while True:
        page = (
            await http.get(
                "/v1/cases",
                params={**params, "limit": 200, **({"after": after} if after else {})},
                headers=headers,
            )
        ).json()
        ids += [row["case_id"] for row in page["cases"]]
        after = page["next"]
        if after is None:
            assert len(ids) == len(set(ids)), "no case on two pages"
            return ids


async def test_a_red_report_is_owned_by_its_station_then_tops_its_caseworkers_list(
    infra, services: RunningServices
) -> None:
    caseworker = f"cw-{uuid.uuid4().hex[:8]}"
    mine = token(Role.caseworker, caseworker, jurisdiction="140402")
    blue = hotline_report(categories=["left_behind"], indicators=["left_behind"])
    red = hotline_report()  # abuse, immediate danger
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSIGNED]) as watcher:
        warm_up = hotline_report()  # the first message after start-up pays for the consumer groups' joins
        kcat_produce(infra.kafka_bootstrap, warm_up)
        (warm,) = await watcher.wait_for(REPORTED, by_external_id(warm_up["external_id"]), timeout=60)
        await watcher.wait_for(ASSIGNED, of_case(warm.json()["case_id"]), timeout=60)
        kcat_produce(infra.kafka_bootstrap, blue)
        (blue_reported,) = await watcher.wait_for(REPORTED, by_external_id(blue["external_id"]), timeout=30)
        started = datetime.now(UTC).timestamp()
        kcat_produce(infra.kafka_bootstrap, red)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(red["external_id"]), timeout=30)
        case_id = reported.json()["case_id"]
        (owned,) = await watcher.wait_for(ASSIGNED, of_case(case_id), timeout=30)
    # How fast is the benchmarks' to measure (docs/PERFORMANCE.md), never asserted here.
    print(f"hotline report → case.assigned (township station) in {owned.timestamp_ms / 1000 - started:.3f} s")
    station = owned.json()["payload"]
    assert (station["owner_node"], station["owner_ref"], station["assigned_by"]) == (TOWNSHIP, None, None)
    assert owned.json()["producer"] == "casework"

    blue_id = blue_reported.json()["case_id"]
    async with httpx.AsyncClient(base_url=services.urls["casework"]) as http:
        case = await _case(http, case_id, SUPERVISOR)
        assert case["jurisdiction"] == VILLAGE and case["risk_level"] == "red"
        assert case["owner"] == {
            "station": TOWNSHIP,
            "caseworker": None,
            "assigned_at": case["owner"]["assigned_at"],
        }
        assert case["next_due_kind"] in {"review", "referral"} and case["next_due_at"]
        await _case(http, blue_id, SUPERVISOR)

        assert case_id in await _every_case(http, {"owner": "unassigned", "grade": "red"}, SUPERVISOR), (
            "the supervisor sees it among the unassigned red cases"
        )

        # The blue case first, then the red one: the list puts red first whatever the order.
        for assigned_id in (blue_id, case_id):
            answer = await http.post(
                f"/v1/cases/{assigned_id}/assignment", json=assignment(caseworker), headers=SUPERVISOR
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["owner"]["caseworker"] == caseworker
        listed = (await http.get("/v1/cases", params={"owner": "me"}, headers=mine)).json()
        assert [row["case_id"] for row in listed["cases"]] == [case_id, blue_id]
        assert listed["cases"][0]["risk_level"] == "red" and listed["cases"][1]["risk_level"] != "red"

        # Paged one at a time, the same order.
        first = (await http.get("/v1/cases", params={"owner": "me", "limit": 1}, headers=mine)).json()
        second = (
            await http.get(
                "/v1/cases", params={"owner": "me", "limit": 1, "after": first["next"]}, headers=mine
            )
        ).json()
        assert [first["cases"][0]["case_id"], second["cases"][0]["case_id"]] == [case_id, blue_id]
        assert second["next"] is None

        # Replacing a named owner needs a reason; a caseworker cannot assign; another county's
        # supervisor does not see the case at all.
        again = await http.post(
            f"/v1/cases/{case_id}/assignment", json=assignment("cw-other"), headers=SUPERVISOR
        )
        assert again.status_code == 422 and again.json()["detail"][0]["loc"] == ["body", "reason"]
        assert (
            await http.post(f"/v1/cases/{case_id}/assignment", json=assignment(caseworker), headers=mine)
        ).status_code == 403
        elsewhere = token(Role.supervisor, "sup-luzhou", jurisdiction="140403")
        assert (
            await http.post(f"/v1/cases/{case_id}/assignment", json={"caseworker": "cw-x"}, headers=elsewhere)
        ).status_code == 404
        assert (await http.get(f"/v1/cases/{case_id}", headers=elsewhere)).status_code == 404
        assert case_id not in {
            row["case_id"]
            for row in (await http.get("/v1/cases", params={"limit": 200}, headers=elsewhere)).json()["cases"]
        }

        # The board: open cases by grade and stage for each township of the county; none of another's.
        board = (
            await http.get("/v1/cases/counts", params={"territory": "140402"}, headers=SUPERVISOR)
        ).json()
        assert {row["node"][:6] for row in board} == {"140402"} and all(
            row["node"][9:] == "000" for row in board
        )
        ours = [
            r
            for r in board
            if (r["node"], r["risk_level"], r["stage"]) == (TOWNSHIP, "red", "written_review")
        ]
        assert ours and ours[0]["cases"] >= 1
        assert (
            await http.get("/v1/cases/counts", params={"territory": "140402"}, headers=elsewhere)
        ).json() == []
        bad = await http.get("/v1/cases", params={"after": "not-a-cursor"}, headers=SUPERVISOR)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "after"]

        # The caseworker screens it in; later they ask to close it, and the supervisor approves.
        async with TopicWatcher(infra.kafka_bootstrap, [REVIEWED, CLOSED]) as watcher:
            screened = await http.post(
                f"/v1/cases/{case_id}/review", json={"decision": "screened_in"}, headers=mine
            )
            assert screened.status_code == 200, screened.text
            assert screened.json()["stage"] == "needs_assessment" and screened.json()["reviewed_at"]
            assert screened.json()["next_due_kind"] in {"referral", "visit"}, "the review is no longer due"
            # Not while an agency still holds a referral: each is named, withdrawn with a reason first.
            await referred_and_heard(services.urls, case_id, mine)
            refused = await http.post(
                f"/v1/cases/{case_id}/approvals", json={"kind": "close", "reason": "moved_away"}, headers=mine
            )
            assert refused.status_code == 409 and refused.json()["detail"]["open_referrals"], refused.text
            withdrawn = await withdraw_open_referrals(services.urls, case_id, mine)
            assert {r["referral_id"] for r in withdrawn} == {
                r["referral_id"] for r in refused.json()["detail"]["open_referrals"]
            }
            asked = await http.post(
                f"/v1/cases/{case_id}/approvals", json={"kind": "close", "reason": "moved_away"}, headers=mine
            )
            assert asked.status_code == 201, asked.text
            approval = asked.json()
            pending = (
                await http.get("/v1/approvals", params={"case_id": case_id}, headers=SUPERVISOR)
            ).json()
            assert [a["approval_id"] for a in pending] == [approval["approval_id"]]
            # The request is listed with what recognises its case: the number and the grade.
            assert (pending[0]["case_number"], pending[0]["risk_level"]) == (
                screened.json()["case_number"],
                screened.json()["risk_level"],
            ), pending
            assert re.fullmatch(CASE_NUMBER_PATTERN, pending[0]["case_number"]), pending
            listed = (
                await http.get("/v1/cases", params={"pending_approval": "true", "owner": "me"}, headers=mine)
            ).json()
            assert [row["case_id"] for row in listed["cases"]] == [case_id]
            assert (
                await http.post(
                    f"/v1/approvals/{approval['approval_id']}/decision", json={"approve": True}, headers=mine
                )
            ).status_code == 403, "a caseworker does not approve"
            approved = await http.post(
                f"/v1/approvals/{approval['approval_id']}/decision",
                json={"approve": True},
                headers=SUPERVISOR,
            )
            assert approved.status_code == 200 and approved.json()["state"] == "approved", approved.text
            (review,) = await watcher.wait_for(REVIEWED, of_case(case_id), timeout=30)
            (closed,) = await watcher.wait_for(CLOSED, of_case(case_id), timeout=30)
        assert review.json()["payload"]["decision"] == "screened_in"
        assert closed.json()["producer"] == "casework" and closed.json()["payload"]["reason"] == "moved_away"
        case = (await http.get(f"/v1/cases/{case_id}", headers=mine)).json()
        assert (case["state"], case["stage"], case["closed_reason"], case["next_due_at"]) == (
            "closed",
            "closed",
            "moved_away",
            None,
        )
        # No case of the run is left with no owner or nothing due.
        metrics = (await http.get("/metrics")).text.splitlines()
        blind_spots = [line for line in metrics if line.startswith("cpnet_case_blind_spots{")]
        assert len(blind_spots) == 4 and all(float(line.rsplit(" ", 1)[1]) == 0 for line in blind_spots), (
            blind_spots
        )

    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        steps = await timeline_of(
            http,
            case_id,
            until={
                "case.reported",
                "case.assessed",
                "case.assigned",
                "case.reviewed",
                "case.approval_requested",
                "case.approval_decided",
                "case.closed",
            },
        )
    assignments = [step["payload"] for step in steps if step["event_type"] == "case.assigned"]
    assert [(a["owner_ref"], a["assigned_by"]) for a in assignments] == [
        (None, None),
        (caseworker, "sup-chengqu"),
    ]
    order = [step["event_type"] for step in steps]
    assert (
        order.index("case.reviewed")
        < order.index("case.approval_requested")
        < order.index("case.approval_decided")
        < order.index("case.closed")
    )


async def test_a_red_case_is_screened_out_only_with_a_supervisors_approval_and_closes_with_its_reason(
    infra, services: RunningServices
) -> None:
    caseworker = f"cw-{uuid.uuid4().hex[:8]}"
    mine = token(Role.caseworker, caseworker, jurisdiction="140402")
    case_id = await reported_and_owned(infra, hotline_report())
    async with httpx.AsyncClient(base_url=services.urls["casework"]) as http:
        await _case(http, case_id, SUPERVISOR)
        assert (
            await http.post(
                f"/v1/cases/{case_id}/assignment", json=assignment(caseworker), headers=SUPERVISOR
            )
        ).status_code == 200
        refused = await http.post(
            f"/v1/cases/{case_id}/review",
            json={"decision": "screened_out", "reason": "unfounded"},
            headers=mine,
        )
        assert refused.status_code == 409 and "approval" in refused.json()["detail"]
        no_reason = await http.post(
            f"/v1/cases/{case_id}/review", json={"decision": "screened_out"}, headers=mine
        )
        assert no_reason.status_code == 422 and no_reason.json()["detail"][0]["loc"] == ["body", "reason"]
        assert (await http.get(f"/v1/cases/{case_id}", headers=mine)).json()["state"] == "open"

        # The police's referral reaches casework after the grade: asked before, nothing would hold it.
        assert "police" in {r["agency"] for r in await referred_and_heard(services.urls, case_id, mine)}
        held = await http.post(
            f"/v1/cases/{case_id}/approvals", json={"kind": "screen_out", "reason": "unfounded"}, headers=mine
        )
        assert held.status_code == 409 and "police" in held.json()["detail"]["msg"], (
            "the police hold a referral"
        )
        await withdraw_open_referrals(services.urls, case_id, mine, reason="wrong_agency")
        asked = (
            await http.post(
                f"/v1/cases/{case_id}/approvals",
                json={"kind": "screen_out", "reason": "unfounded"},
                headers=mine,
            )
        ).json()
        again = await http.post(
            f"/v1/cases/{case_id}/approvals", json={"kind": "screen_out", "reason": "unfounded"}, headers=mine
        )
        assert again.status_code == 409, "one pending request of a kind"
        rejected_without_reason = await http.post(
            f"/v1/approvals/{asked['approval_id']}/decision", json={"approve": False}, headers=SUPERVISOR
        )
        assert rejected_without_reason.status_code == 422
        async with TopicWatcher(infra.kafka_bootstrap, [REVIEWED, CLOSED]) as watcher:
            approved = await http.post(
                f"/v1/approvals/{asked['approval_id']}/decision", json={"approve": True}, headers=SUPERVISOR
            )
            assert approved.status_code == 200, approved.text
            (review,) = await watcher.wait_for(REVIEWED, of_case(case_id), timeout=30)
            (closed,) = await watcher.wait_for(CLOSED, of_case(case_id), timeout=30)
        assert (
            review.json()["payload"]["decision"],
            review.json()["payload"]["reason"],
            review.json()["payload"]["reviewed_by"],
            review.json()["payload"]["approved_by"],
        ) == ("screened_out", "unfounded", caseworker, "sup-chengqu")
        assert closed.json()["payload"]["reason"] == "screened_out"
        case = (await http.get(f"/v1/cases/{case_id}", headers=mine)).json()
        assert (case["state"], case["closed_reason"]) == ("closed", "screened_out")
        twice = await http.post(
            f"/v1/approvals/{asked['approval_id']}/decision", json={"approve": True}, headers=SUPERVISOR
        )
        assert twice.status_code == 409


async def test_the_board_lists_an_emergency_first_counts_what_it_finds_and_filters_by_day_and_number(
    infra, services: RunningServices
) -> None:
    village = "140402001003"  # the counts below move only by this test's cases: none runs beside it
    from_here = {"territory": village, "totals": "true", "limit": 200}
    async with httpx.AsyncClient(base_url=services.urls["casework"]) as http:
        before = (await http.get("/v1/cases", params=from_here, headers=SUPERVISOR)).json()["tally"]
        blue_id = await reported_and_owned(
            infra,
            hotline_report(jurisdiction=village, categories=["left_behind"], indicators=["left_behind"]),
        )
        emergency_id = await reported_and_owned(infra, hotline_report(jurisdiction=village))
        emergency = await _case(http, emergency_id, SUPERVISOR)
        await _case(http, blue_id, SUPERVISOR)
        page = (await http.get("/v1/cases", params=from_here, headers=SUPERVISOR)).json()
        order = [c["case_id"] for c in page["cases"]]
        flags = [c["emergency"] for c in page["cases"]]
        assert flags == sorted(flags, reverse=True), "children in immediate danger top the board"
        assert emergency["emergency"] is True and order.index(emergency_id) < flags.count(
            True
        ) <= order.index(blue_id)
        after = page["tally"]
        assert {
            name: after[name] - before[name] for name in ("all", "emergency", "red", "blue", "unassigned")
        } == {"all": 2, "emergency": 1, "red": 1, "blue": 1, "unassigned": 2}
        assert page["total"] == after["all"] == len(page["cases"])

        only = (
            await http.get("/v1/cases", params={**from_here, "emergency": "true"}, headers=SUPERVISOR)
        ).json()
        assert only["total"] == after["emergency"] and {c["emergency"] for c in only["cases"]} == {True}
        assert emergency_id in {c["case_id"] for c in only["cases"]} and blue_id not in {
            c["case_id"] for c in only["cases"]
        }
        by_number = (
            await http.get("/v1/cases", params={"number": emergency["case_number"]}, headers=SUPERVISOR)
        ).json()
        assert [c["case_id"] for c in by_number["cases"]] == [emergency_id]

        today = datetime.now(CHINA_STANDARD_TIME).date()
        that_day = {
            "territory": village,
            "received_from": str(today),
            "received_to": str(today),
            "limit": 200,
        }
        found = {
            c["case_id"]
            for c in (await http.get("/v1/cases", params=that_day, headers=SUPERVISOR)).json()["cases"]
        }
        assert {emergency_id, blue_id} <= found
        yesterday = str(today - timedelta(days=1))
        earlier = (
            await http.get("/v1/cases", params={**that_day, "received_to": yesterday}, headers=SUPERVISOR)
        ).json()
        assert earlier["cases"] == []
        bad = await http.get("/v1/cases", params={"received_from": "2026-13-01"}, headers=SUPERVISOR)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "received_from"]
