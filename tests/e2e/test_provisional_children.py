"""Children nobody can name, on the real stack with every service a process: an unnamed boy of about
seven in immediate danger is reported on the hotline topic, graded red and referred like any child; a
later report names him by national ID; a caseworker links the two — one child, one case, both reports,
the other case closed as a duplicate and its referrals withdrawn; both cases list the link, without his
data; a supervisor undoes it with a note — two children and two cases again, the second referred again,
the link listed as undone and the note read back with a purpose. And every refusal of the identification
API."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from shared.auth import Role
from tests.e2e.closing import open_referrals_of
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import assignment, hotline_report, national_id, token
from tests.e2e.test_audit import timeline_of
from tests.e2e.test_casework import CLOSED, SUPERVISOR
from tests.e2e.test_intake_assessment import REPORTED, by_external_id, kcat_produce, of_case
from tests.e2e.watch import TopicWatcher

CASEWORKER = token(Role.caseworker, "cw-chengqu-3", jurisdiction="140402")
ELSEWHERE = token(Role.caseworker, "cw-luzhou", jurisdiction="140403")
ELSEWHERE_SUPERVISOR = token(Role.supervisor, "sup-luzhou", jurisdiction="140403")
LINKS, STATUS = "child.links", "referral.status"


def unnamed_boy(**changes) -> dict:
    """The boy next door, about seven, bruised face: no name, no ID, no birth date."""
    report = hotline_report(
        categories=["abuse"],
        indicators=["immediate_danger", "visible_injury"],
        reporter={"role": "neighbour", "anonymous": True, "name": None, "phone": None},
        narrative="The boy next door cries at night; today his face was bruised.",
        **changes,
    )
    report["child"] = {
        "sex": "M",
        "age_estimate": 7,
        "appearance": "about 1.2 m, thin, bruised left cheek",
        "place_seen": "the courtyard behind the grain store",
    }
    return report


async def _reported_over_http(
    http: httpx.AsyncClient, report: dict, headers: dict[str, str] = CASEWORKER
) -> dict:
    answer = await http.post(
        "/v1/reports", json=report, headers={**headers, "Idempotency-Key": f"prov-{report['external_id']}"}
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


async def _graded_and_referred(urls: dict[str, str], case_id: str) -> tuple[dict, list[dict]]:
    """The case as casework lists it once graded, and its open referrals once casework counts them all."""
    async with (
        httpx.AsyncClient(base_url=urls["casework"]) as casework,
        httpx.AsyncClient(base_url=urls["referral"]) as referral,
    ):
        for _ in range(200):
            case = (await casework.get(f"/v1/cases/{case_id}", headers=SUPERVISOR)).json()
            referrals = await open_referrals_of(referral, case_id, SUPERVISOR)
            if case.get("risk_level") and referrals and case["open_referrals"] == len(referrals):
                return case, referrals
            await asyncio.sleep(0.1)
    raise AssertionError(f"case {case_id} was never graded and referred: {case}")


async def _case_until(urls: dict[str, str], case_id: str, done) -> dict:
    async with httpx.AsyncClient(base_url=urls["casework"]) as casework:
        for _ in range(200):
            case = (await casework.get(f"/v1/cases/{case_id}", headers=SUPERVISOR)).json()
            if done(case):
                return case
            await asyncio.sleep(0.1)
    raise AssertionError(f"casework's case {case_id} never became as expected: {case}")


def _withdrawn_from(case_id: str):
    return lambda seen: seen.json()["case_id"] == case_id and seen.json()["payload"]["state"] == "withdrawn"


async def _links(http: httpx.AsyncClient, case_id: str, headers: dict[str, str] = SUPERVISOR) -> list[dict]:
    answer = await http.get(f"/v1/cases/{case_id}/links", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _details(http: httpx.AsyncClient, case_id: str) -> dict:
    answer = await http.get(
        f"/v1/cases/{case_id}/child", params={"purpose": "assessment"}, headers=CASEWORKER
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_an_unnamed_boy_is_referred_identified_by_a_later_report_linked_and_the_link_undone(
    infra, services: RunningServices
) -> None:
    urls = services.urls
    boy = unnamed_boy()
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED]) as watcher:
        kcat_produce(infra.kafka_bootstrap, boy)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(boy["external_id"]), timeout=60)
    first_case, provisional_ref = reported.json()["case_id"], reported.json()["payload"]["child_ref"]
    assert reported.json()["payload"]["age_years"] == 7
    case, referrals = await _graded_and_referred(urls, first_case)
    assert (case["risk_level"], case["emergency"]) == ("red", True), "graded like any child"
    assert "police" in {r["agency"] for r in referrals}, "immediate danger reaches the police"
    async with httpx.AsyncClient(base_url=urls["casework"]) as casework:
        assert (
            await casework.post(
                f"/v1/cases/{first_case}/assignment", json=assignment("cw-chengqu-3"), headers=SUPERVISOR
            )
        ).status_code == 200

    async with httpx.AsyncClient(base_url=urls["intake"]) as intake:
        summary = (await intake.get(f"/v1/cases/{first_case}", headers=CASEWORKER)).json()
        assert summary["provisional"] and summary["child_ref"] == provisional_ref
        details = await _details(intake, first_case)
        assert details["provisional"] and details["identity"]["appearance"] == boy["child"]["appearance"]
        assert details["identity"]["name"] is None

        # A later report names him by national ID: a child of its own, and a case of its own, until a
        # person links them.
        nid = national_id()
        named = hotline_report(
            child={
                "name": "王小明",
                "national_id": nid,
                "sex": "M",
                "birth_date": "2019-03-02",
                "address": "3 Grain Store Lane",
                "school": None,
            },
            categories=["abuse"],
            indicators=["visible_injury"],
        )
        recorded = await _reported_over_http(intake, named)
        second_case, known_ref = recorded["case_id"], recorded["child_ref"]
        assert (second_case, known_ref) != (first_case, provisional_ref)
        assert not (await intake.get(f"/v1/cases/{second_case}", headers=CASEWORKER)).json()["provisional"]
        _, second_referrals = await _graded_and_referred(urls, second_case)

        async with TopicWatcher(infra.kafka_bootstrap, [LINKS, CLOSED, STATUS]) as watcher:
            answer = await intake.post(
                f"/v1/children/{provisional_ref}/identification",
                json={"child_ref": known_ref, "reason": "later_report"},
                headers=CASEWORKER,
            )
            assert answer.status_code == 201, answer.text
            link = answer.json()
            (linked,) = await watcher.wait_for(LINKS, of_case(second_case), timeout=30)
            (closed,) = await watcher.wait_for(CLOSED, of_case(second_case), timeout=30)
            await watcher.wait_for(
                STATUS, _withdrawn_from(second_case), count=len(second_referrals), timeout=30
            )
        assert (link["child_ref"], link["case_id"], link["merged_child_ref"], link["merged_case_id"]) == (
            provisional_ref,
            first_case,
            known_ref,
            second_case,
        ), "the older case, worked and referred, remains"
        assert not link["provisional"] and link["linked_by"] == "cw-chengqu-3"
        payload = linked.json()["payload"]
        assert (payload["reason"], payload["linked_by"], payload["surviving_case_id"]) == (
            "later_report",
            "cw-chengqu-3",
            first_case,
        )
        assert set(payload) >= {"link_id", "provisional_ref", "child_ref", "merged_child_ref"}
        assert nid not in linked.value.decode() and "王小明" not in linked.value.decode(), (
            "ids only on the bus"
        )
        assert closed.json()["payload"]["reason"] == "duplicate"

        # One child, one case, both reports.
        one = await _details(intake, first_case)
        assert not one["provisional"] and one["child_ref"] == provisional_ref
        assert (one["identity"]["national_id"], one["identity"]["name"]) == (nid, "王小明")
        assert one["identity"]["appearance"] == boy["child"]["appearance"], "the description stays with him"
        assert len(one["reports"]) == 2 and {r["channel"] for r in one["reports"]} == {"hotline"}
        assert (await intake.get(f"/v1/cases/{first_case}", headers=CASEWORKER)).json()["reports"] == 2
        found = await intake.post(
            "/v1/children/search", json={"national_id": nid, "purpose": "assessment"}, headers=CASEWORKER
        )
        matches = [(m["child_ref"], m["case_id"]) for m in found.json()["matches"]]
        assert matches == [(provisional_ref, first_case)]
        again = await _reported_over_http(
            intake,
            hotline_report(
                child={"name": "王小明", "national_id": nid, "sex": "M", "birth_date": "2019-03-02"}
            ),
        )
        assert (again["child_ref"], again["case_id"]) == (provisional_ref, first_case), (
            "his next report joins it"
        )

    kept = await _case_until(urls, first_case, lambda c: c["state"] == "open")
    assert kept["owner"]["caseworker"] == "cw-chengqu-3" and kept["open_referrals"] == len(referrals), (
        "the remaining case keeps its owner and its referrals"
    )
    merged = await _case_until(urls, second_case, lambda c: c["open_referrals"] == 0)
    assert (merged["state"], merged["closed_reason"]) == ("closed", "duplicate")
    async with httpx.AsyncClient(base_url=urls["referral"]) as referral:
        ended = await referral.get("/v1/referrals", params={"case_id": second_case}, headers=SUPERVISOR)
        ended = ended.json()
    assert {(r["state"], r["reason"]) for r in ended} == {("withdrawn", "duplicate")}

    # Both cases list the link as a record (who, when, how, the other case), never his name or ID; the
    # supervisor is offered its undo, the caseworker is not.
    async with httpx.AsyncClient(base_url=urls["intake"]) as intake:
        listed = await intake.get(f"/v1/cases/{first_case}/links", headers=SUPERVISOR)
        assert nid not in listed.text and "王小明" not in listed.text and "bruised" not in listed.text
        (remained,) = listed.json()
        (merged_away,) = await _links(intake, second_case)
        (remained_to_caseworker,) = await _links(intake, first_case, CASEWORKER)
        case_numbers = {
            c: (await intake.get(f"/v1/cases/{c}", headers=CASEWORKER)).json()["case_number"]
            for c in (first_case, second_case)
        }
        assert remained == {
            "link_id": link["link_id"],
            "kind": "linked",
            "this_case": "remained",
            "other_case_id": second_case,
            "other_case_number": case_numbers[second_case],
            "reason": "later_report",
            "linked_by": "cw-chengqu-3",
            "linked_at": link["linked_at"],
            "undone_at": None,
            "undone_by": None,
            "undo_reason": None,
            "actions": ["undo"],
        }
        assert merged_away == {
            **remained,
            "this_case": "merged",
            "other_case_id": first_case,
            "other_case_number": case_numbers[first_case],
        }
        assert remained_to_caseworker == {**remained, "actions": []}, "only a supervisor undoes a link"
        assert (
            await intake.get(f"/v1/cases/{first_case}/links", headers=ELSEWHERE_SUPERVISOR)
        ).status_code == 404
        assert (await intake.get(f"/v1/cases/{uuid.uuid4()}/links", headers=SUPERVISOR)).status_code == 404
        for role in (Role.reporter, Role.hotline, Role.operator, Role.auditor):
            assert (await intake.get(f"/v1/cases/{first_case}/links", headers=token(role))).status_code == 403

    # A caseworker cannot undo it; a supervisor can, with a note: two children and two cases again.
    why = "邻居认错了人：王小明一直住在外婆家。"
    async with httpx.AsyncClient(base_url=urls["intake"]) as intake:
        undo_url = f"/v1/children/links/{link['link_id']}/undo"
        by_caseworker = await intake.post(undo_url, json={"reason": "wrong_child"}, headers=CASEWORKER)
        assert by_caseworker.status_code == 403
        async with TopicWatcher(infra.kafka_bootstrap, [LINKS]) as watcher:
            undone = await intake.post(
                undo_url, json={"reason": "wrong_child", "note": f"  {why} "}, headers=SUPERVISOR
            )
            assert undone.status_code == 200, undone.text
            (told,) = await watcher.wait_for(LINKS, of_case(second_case), timeout=30)
        assert told.json()["event_type"] == "child.link_undone"
        assert told.json()["payload"]["undone_by"] == "sup-chengqu"
        assert why not in told.value.decode(), "a note never travels on the bus"
        assert undone.json()["undo_reason"] == "wrong_child" and undone.json()["provisional"]
        twice = await intake.post(undo_url, json={"reason": "wrong_child"}, headers=SUPERVISOR)
        assert twice.status_code == 409 and "undone already" in twice.json()["detail"]

        boy_again, him = await _details(intake, first_case), await _details(intake, second_case)
        assert boy_again["provisional"] and boy_again["identity"]["name"] is None
        assert boy_again["identity"]["appearance"] == boy["child"]["appearance"]
        assert (him["child_ref"], him["identity"]["national_id"], him["provisional"]) == (
            known_ref,
            nid,
            False,
        )
        assert len(him["reports"]) == 1 and len(boy_again["reports"]) == 2, (
            "the named report goes back; the one made after the link stays where it was placed"
        )
        found = await intake.post(
            "/v1/children/search", json={"national_id": nid, "purpose": "assessment"}, headers=CASEWORKER
        )
        assert [(m["child_ref"], m["case_id"]) for m in found.json()["matches"]] == [(known_ref, second_case)]

        # Listed as undone on both cases, by whom and why, with nothing left to undo; the note is read back
        # with a purpose, with the case that remained only (the other case is another child's).
        undone_record = {
            **remained,
            "undone_at": undone.json()["undone_at"],
            "undone_by": "sup-chengqu",
            "undo_reason": "wrong_child",
            "actions": [],
        }
        assert await _links(intake, first_case) == [undone_record]
        assert await _links(intake, second_case) == [
            {
                **merged_away,
                **{k: undone_record[k] for k in ("undone_at", "undone_by", "undo_reason", "actions")},
            }
        ]
        notes = await intake.get(
            f"/v1/cases/{first_case}/notes", params={"purpose": "assessment"}, headers=SUPERVISOR
        )
        assert notes.status_code == 200, notes.text
        assert [(n["action"], n["about"], n["written_by"], n["text"]) for n in notes.json()["notes"]] == [
            ("link_undone", link["link_id"], "sup-chengqu", why)
        ], "trimmed"
        other = await intake.get(
            f"/v1/cases/{second_case}/notes", params={"purpose": "assessment"}, headers=SUPERVISOR
        )
        assert other.json()["notes"] == []
        refused = await intake.get(
            f"/v1/cases/{first_case}/notes", params={"purpose": "assessment"}, headers=ELSEWHERE_SUPERVISOR
        )
        assert refused.status_code == 404 and why not in refused.text
        assert (await intake.get(f"/v1/cases/{first_case}/notes", headers=SUPERVISOR)).status_code == 422, (
            "read only with a purpose"
        )
    reopened = await _case_until(
        urls, second_case, lambda c: c["state"] == "open" and c["open_referrals"] > 0
    )
    assert reopened["stage"] != "closed" and reopened["closed_reason"] is None
    _, referred_again = await _graded_and_referred(urls, second_case)
    assert {r["agency"] for r in referred_again} == {r["agency"] for r in second_referrals}, (
        "its agencies are referred again"
    )
    await _case_until(urls, first_case, lambda c: c["state"] == "open")
    # Each case's history tells it: the case that remained shows the link and its undo as well as the
    # case merged away (the events are keyed by the latter).
    async with httpx.AsyncClient(base_url=urls["audit"]) as audit:
        for case_id in (first_case, second_case):
            steps = await timeline_of(audit, case_id, until={"child.linked", "child.link_undone"})
            links = [
                step["payload"]["link_id"]
                for step in steps
                if step["event_type"] in ("child.linked", "child.link_undone")
            ]
            assert links == [link["link_id"]] * 2, (case_id, links)


async def test_a_child_nobody_can_name_is_accepted_over_http_and_each_report_opens_another_provisional_child(
    infra, services: RunningServices
) -> None:
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as intake:
        first = await _reported_over_http(intake, unnamed_boy())
        second = await _reported_over_http(intake, unnamed_boy())
        assert first["child_ref"] != second["child_ref"] and first["case_id"] != second["case_id"], (
            "never matched by name: another provisional child until a person links them"
        )
        receipt = await _reported_over_http(intake, unnamed_boy(), headers=token(Role.reporter))
        assert set(receipt) == {"report_id", "status"}

        no_age = unnamed_boy()
        no_age["child"]["age_estimate"] = None
        refused = await intake.post("/v1/reports", json=no_age, headers=CASEWORKER)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "child", "age_estimate"]
        assert no_age["child"]["appearance"] not in refused.text, "no value is echoed"
        undescribed = unnamed_boy()
        undescribed["child"]["appearance"] = None
        refused = await intake.post("/v1/reports", json=undescribed, headers=CASEWORKER)
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "child"]
        assert "appearance" in refused.json()["detail"][0]["msg"]

        # Two reports about one unnamed boy, linked by the caseworker who saw him twice: still unnamed.
        both = await intake.post(
            f"/v1/children/{second['child_ref']}/identification",
            json={"child_ref": first["child_ref"], "reason": "home_visit"},
            headers=CASEWORKER,
        )
        assert both.status_code == 201, both.text
        assert both.json()["provisional"] and both.json()["case_id"] == first["case_id"]
        # Then his papers are seen: he is given his identity, and his next report by national ID joins
        # his case.
        nid = national_id()
        named = await intake.post(
            f"/v1/children/{first['child_ref']}/identification",
            json={
                "reason": "documents",
                "identity": {"name": "李小龙", "national_id": nid, "age_estimate": 8},
            },
            headers=CASEWORKER,
        )
        assert named.status_code == 201, named.text
        assert (named.json()["child_ref"], named.json()["merged_child_ref"], named.json()["provisional"]) == (
            first["child_ref"],
            None,
            False,
        )
        later = await _reported_over_http(
            intake,
            hotline_report(
                child={
                    "name": "李小龙",
                    "national_id": nid,
                    "sex": "M",
                    "birth_date": None,
                    "age_estimate": 8,
                }
            ),
        )
        assert (later["child_ref"], later["case_id"]) == (first["child_ref"], first["case_id"])
        # Undone in reverse order: the naming first, then the link — as the case's list offers.
        offered = {entry["link_id"]: entry["actions"] for entry in await _links(intake, first["case_id"])}
        assert offered == {named.json()["link_id"]: ["undo"], both.json()["link_id"]: []}
        first_undo = await intake.post(
            f"/v1/children/links/{both.json()['link_id']}/undo",
            json={"reason": "entered_in_error"},
            headers=SUPERVISOR,
        )
        assert first_undo.status_code == 409 and named.json()["link_id"] in first_undo.json()["detail"]
        for link in (named.json(), both.json()):
            undone = await intake.post(
                f"/v1/children/links/{link['link_id']}/undo",
                json={"reason": "entered_in_error"},
                headers=SUPERVISOR,
            )
            assert undone.status_code == 200, undone.text
        summaries = [
            (await intake.get(f"/v1/cases/{r['case_id']}", headers=CASEWORKER)).json()
            for r in (first, second)
        ]
        assert [(s["child_ref"], s["provisional"]) for s in summaries] == [
            (first["child_ref"], True),
            (second["child_ref"], True),
        ]
    await _case_until(services.urls, second["case_id"], lambda c: c["state"] == "open")


async def test_every_refusal_of_the_identification_api(infra, services: RunningServices) -> None:
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as intake:
        boy = await _reported_over_http(intake, unnamed_boy())
        known = hotline_report()
        named = await _reported_over_http(intake, known)
        identify = f"/v1/children/{boy['child_ref']}/identification"
        link = {"child_ref": named["child_ref"], "reason": "known_to_caseworker"}

        async def post(url: str, body: dict, headers: dict[str, str] = CASEWORKER) -> httpx.Response:
            return await intake.post(url, json=body, headers=headers)

        # 422, naming the field.
        for body, field in [
            ({"reason": "later_report"}, "child_ref"),
            ({**link, "identity": {"national_id": national_id()}}, "child_ref"),
            ({"child_ref": named["child_ref"], "reason": "a_hunch"}, "reason"),
            ({"child_ref": "not-a-uuid", "reason": "later_report"}, "child_ref"),
            ({"identity": {"name": "某某"}, "reason": "documents"}, "identity"),
            ({"identity": {"name": "某某", "birth_date": "2099-01-01"}, "reason": "documents"}, "birth_date"),
            ({"child_ref": boy["child_ref"], "reason": "later_report"}, "child_ref"),
        ]:
            refused = await post(identify, body)
            assert refused.status_code == 422, (body, refused.text)
            assert field in refused.json()["detail"][0]["loc"], (body, refused.json())
        assert "某某" not in refused.text
        # 403 by role, 404 by territory (and for what does not exist).
        for role in (Role.reporter, Role.agency_officer, Role.hotline, Role.auditor):
            agency = "police" if role is Role.agency_officer else None
            assert (await post(identify, link, token(role, agency=agency))).status_code == 403, role
        outside = await post(identify, link, ELSEWHERE)
        assert outside.status_code == 404 and "provisional_ref" in outside.json()["detail"]
        nowhere = await post(f"/v1/children/{uuid.uuid4()}/identification", link)
        assert nowhere.status_code == 404
        far = await _reported_over_http(
            intake,
            hotline_report(jurisdiction="140403100201"),
            token(Role.caseworker, "cw-city", jurisdiction="1404"),
        )
        elsewhere_child = await post(identify, {**link, "child_ref": far["child_ref"]})
        assert elsewhere_child.status_code == 404 and "child_ref" in elsewhere_child.json()["detail"]
        # 409: an identified child; an identity already registered; a child already linked.
        identified = await post(
            f"/v1/children/{named['child_ref']}/identification",
            {"child_ref": boy["child_ref"], "reason": "later_report"},
        )
        assert identified.status_code == 409 and "identified already" in identified.json()["detail"]
        taken = await post(
            identify, {"reason": "documents", "identity": {"national_id": known["child"]["national_id"]}}
        )
        assert taken.status_code == 409 and "link" in taken.json()["detail"]
        linked = await post(identify, link)
        assert linked.status_code == 201, linked.text
        twice = await post(identify, link)
        assert twice.status_code == 409 and "already" in twice.json()["detail"]
        # Undo: a supervisor of the territory, of a link that exists, with a reason.
        undo = f"/v1/children/links/{linked.json()['link_id']}/undo"
        assert (await post(undo, {"reason": "wrong_child"})).status_code == 403
        assert (await post(undo, {"reason": "wrong_child"}, ELSEWHERE_SUPERVISOR)).status_code == 404
        assert (
            await post(f"/v1/children/links/{uuid.uuid4()}/undo", {"reason": "wrong_child"}, SUPERVISOR)
        ).status_code == 404
        no_reason = await post(undo, {}, SUPERVISOR)
        assert no_reason.status_code == 422 and no_reason.json()["detail"][0]["loc"][-1] == "reason"
        assert (await post(undo, {"reason": "wrong_child"}, SUPERVISOR)).status_code == 200
    await _case_until(services.urls, named["case_id"], lambda c: c["state"] == "open")

    async with httpx.AsyncClient(base_url=services.urls["audit"]) as audit:
        for _ in range(100):
            log = (
                await audit.get(
                    f"/v1/children/{boy['child_ref']}/access", headers=token(Role.auditor, "inspector-3")
                )
            ).json()
            updates = [entry for entry in log if entry["action"] == "update"]
            if len(updates) >= 4:
                break
            await asyncio.sleep(0.1)
    assert [(u["accessor_ref"], u["outcome"], u["purpose"]) for u in updates] == [
        ("cw-luzhou", "refused", "record_correction"),
        ("cw-chengqu-3", "shown", "record_correction"),
        ("sup-luzhou", "refused", "record_correction"),
        ("sup-chengqu", "shown", "record_correction"),
    ], "every change to his identity, and every attempt from outside, is on the ledger"
