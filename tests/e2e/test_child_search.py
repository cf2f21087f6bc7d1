"""Find a child before opening a case, on the real stack: the child a search finds is the child_ref
intake matches reports to; another county's caseworker finds nothing, and that is on the ledger as
refused. And the cases a reporter's phone reported, however the number is written, in one's own
territory only, each on the ledger."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx

from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, token
from tests.e2e.test_intake_assessment import REPORTED, by_external_id, kcat_produce
from tests.e2e.watch import TopicWatcher

CASEWORKER = token(Role.caseworker, "cw-search", jurisdiction="140402")
ELSEWHERE = token(Role.caseworker, "cw-luzhou", jurisdiction="140403")


async def test_a_child_found_by_search_is_the_child_reports_are_matched_to(
    infra, services: RunningServices
) -> None:
    report = hotline_report()
    child = report["child"]
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED]) as watcher:
        kcat_produce(infra.kafka_bootstrap, report)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(report["external_id"]), timeout=60)
    child_ref, case_id = reported.json()["payload"]["child_ref"], reported.json()["case_id"]

    by_id = {"national_id": child["national_id"], "purpose": "assessment"}
    by_name = {
        "name": child["name"],
        "birth_date": child["birth_date"],
        "jurisdiction": report["jurisdiction"],
        "purpose": "assessment",
    }
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
        found = [
            (await http.post("/v1/children/search", json=body, headers=CASEWORKER)).json()
            for body in (by_id, by_name)
        ]
        for answer in found:
            (match,) = answer["matches"]
            assert (match["child_ref"], match["case_id"]) == (child_ref, case_id)
        other = await http.post(
            "/v1/children/search", json={**by_id, "national_id": "11010120100101001X"}, headers=CASEWORKER
        )
        assert other.json() == {"matches": []}, "no one else's child"
        refused = await http.post("/v1/children/search", json=by_id, headers=ELSEWHERE)
        assert refused.status_code == 200 and refused.json() == {"matches": []}, (
            "another county finds nothing"
        )
        vague = await http.post(
            "/v1/children/search", json={"name": child["name"], "purpose": "assessment"}, headers=CASEWORKER
        )
        assert vague.status_code == 422 and child["name"] not in vague.text
        reporter = await http.post("/v1/children/search", json=by_id, headers=token(Role.reporter))
        assert reporter.status_code == 403

        # A second report about the child (over HTTP, by its caseworker) joins the case search found.
        again = hotline_report(
            child={
                "national_id": child["national_id"],
                "name": child["name"],
                "birth_date": child["birth_date"],
            }
        )
        recorded = await http.post(
            "/v1/reports",
            json=again,
            headers={**CASEWORKER, "Idempotency-Key": f"search-{again['external_id']}"},
        )
        assert recorded.status_code == 202
        assert (recorded.json()["child_ref"], recorded.json()["case_id"]) == (child_ref, case_id)

    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        for _ in range(100):
            log = (
                await http.get(f"/v1/children/{child_ref}/access", headers=token(Role.auditor, "inspector-2"))
            ).json()
            searches = [entry for entry in log if entry["action"] == "search"]
            if len(searches) == 3:
                break
            await asyncio.sleep(0.1)
    assert [(s["accessor_ref"], s["outcome"], s["purpose"]) for s in searches] == [
        ("cw-search", "shown", "assessment"),
        ("cw-search", "shown", "assessment"),
        ("cw-luzhou", "refused", "assessment"),
    ]
    assert searches[0]["fields"] == ["national_id"] and searches[1]["fields"] == ["name", "birth_date"]
    assert searches[2]["refusal"] == "outside_territory" and searches[2]["fields"] == []


async def _access_log(audit: httpx.AsyncClient, child_ref: str, wanted) -> list[dict]:
    """The child's access log once `wanted` holds of it (the ledger records what intake staged)."""
    for _ in range(100):
        log = (
            await audit.get(f"/v1/children/{child_ref}/access", headers=token(Role.auditor, "inspector-2"))
        ).json()
        if wanted(log):
            break
        await asyncio.sleep(0.1)
    return log


async def test_the_cases_a_reporters_phone_reported_are_found_however_it_is_written(
    infra, services: RunningServices
) -> None:
    digits = "13" + "".join(random.choices("0123456789", k=9))
    written_on_reports = f"+86-{digits}"
    searched_as = f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    here_earlier = hotline_report(reporter={"phone": written_on_reports}, received_at=hour_ago)
    here_later = hotline_report(reporter={"phone": f"0086 {digits}"})
    elsewhere = hotline_report(reporter={"phone": written_on_reports}, jurisdiction="140403001001")
    unrelated = hotline_report(reporter={"phone": f"+86-{int(digits) + 1}"})
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
        recorded = {}
        for name, report, who in (
            ("earlier", here_earlier, CASEWORKER),
            ("later", here_later, CASEWORKER),
            ("elsewhere", elsewhere, ELSEWHERE),
            ("unrelated", unrelated, CASEWORKER),
        ):
            answer = await http.post("/v1/reports", json=report, headers=who)
            assert answer.status_code == 202, answer.text
            recorded[name] = answer.json()

        by_phone = {"reporter_phone": searched_as, "purpose": "investigation"}
        found = (await http.post("/v1/children/search", json=by_phone, headers=CASEWORKER)).json()["matches"]
        assert [(m["case_id"], m["case_number"], m["child_ref"]) for m in found] == [
            (recorded[name]["case_id"], recorded[name]["case_number"], recorded[name]["child_ref"])
            for name in ("later", "earlier")
        ], "its own county's cases, the latest reported first"
        assert {m["jurisdiction"] for m in found} == {"140402001001"}
        theirs = (await http.post("/v1/children/search", json=by_phone, headers=ELSEWHERE)).json()["matches"]
        assert [m["case_id"] for m in theirs] == [recorded["elsewhere"]["case_id"]]

        for bad in ("12345", "138-0013-800O", "call Mrs Li"):
            refused = await http.post(
                "/v1/children/search", json={**by_phone, "reporter_phone": bad}, headers=CASEWORKER
            )
            assert refused.status_code == 422
            assert [p["loc"] for p in refused.json()["detail"]] == [["body", "reporter_phone"]]
            assert bad not in refused.text
        mixed = await http.post(
            "/v1/children/search",
            headers=CASEWORKER,
            json={**by_phone, "national_id": here_later["child"]["national_id"]},
        )
        assert mixed.status_code == 422 and digits not in mixed.text
        assert (
            await http.post("/v1/children/search", json=by_phone, headers=token(Role.reporter))
        ).status_code == 403

    async with httpx.AsyncClient(base_url=services.urls["audit"]) as audit:
        for match in found:
            log = await _access_log(
                audit,
                match["child_ref"],
                lambda log, match=match: any(entry["access_id"] == match["access_id"] for entry in log),
            )
            (entry,) = [entry for entry in log if entry["access_id"] == match["access_id"]]
            assert (
                entry["accessor_ref"],
                entry["action"],
                entry["outcome"],
                entry["purpose"],
                entry["fields"],
                entry["case_id"],
            ) == ("cw-search", "search", "shown", "investigation", ["reporters"], match["case_id"])
        # The other county's case, which the caseworker was not shown, is on its log as refused.
        log = await _access_log(
            audit,
            recorded["elsewhere"]["child_ref"],
            lambda log: any(entry["accessor_ref"] == "cw-search" for entry in log),
        )
        assert [
            (e["action"], e["outcome"], e["refusal"]) for e in log if e["accessor_ref"] == "cw-search"
        ] == [("search", "refused", "outside_territory")]
