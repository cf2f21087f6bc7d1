"""Find a child before opening a case, on the real stack: the child a search finds is the child_ref
intake matches reports to; another county's caseworker finds nothing, and that is on the ledger as
refused."""

from __future__ import annotations

import asyncio

import httpx

from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, token
from tests.e2e.test_intake_assessment import REPORTED, by_external_id, kcat_produce
from tests.e2e.watch import TopicWatcher

CASEWORKER = token(Role.caseworker, "cw-search", jurisdiction="140402")
ELSEWHERE = token(Role.caseworker, "cw-luzhou", jurisdiction="140403")


async def test_a_child_found_by_search_is_the_child_reports_are_matched_to(infra, services: RunningServices) -> None:
    report = hotline_report()
    child = report["child"]
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED]) as watcher:
        kcat_produce(infra.kafka_bootstrap, report)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(report["external_id"]), timeout=60)
    child_ref, case_id = reported.json()["payload"]["child_ref"], reported.json()["case_id"]

    by_id = {"national_id": child["national_id"], "purpose": "assessment"}
    by_name = {"name": child["name"], "birth_date": child["birth_date"], "jurisdiction": report["jurisdiction"],
               "purpose": "assessment"}
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
        found = [(await http.post("/v1/children/search", json=body, headers=CASEWORKER)).json()
                 for body in (by_id, by_name)]
        for answer in found:
            (match,) = answer["matches"]
            assert (match["child_ref"], match["case_id"]) == (child_ref, case_id)
        other = await http.post("/v1/children/search", json={**by_id, "national_id": "11010120100101001X"},
                                headers=CASEWORKER)
        assert other.json() == {"matches": []}, "no one else's child"
        refused = await http.post("/v1/children/search", json=by_id, headers=ELSEWHERE)
        assert refused.status_code == 200 and refused.json() == {"matches": []}, "another county finds nothing"
        vague = await http.post("/v1/children/search", json={"name": child["name"], "purpose": "assessment"},
                                headers=CASEWORKER)
        assert vague.status_code == 422 and child["name"] not in vague.text
        reporter = await http.post("/v1/children/search", json=by_id, headers=token(Role.reporter))
        assert reporter.status_code == 403

        # A second report about the child (over HTTP, by its caseworker) joins the case search found.
        again = hotline_report(child={"national_id": child["national_id"], "name": child["name"],
                                      "birth_date": child["birth_date"]})
        recorded = await http.post("/v1/reports", json=again,
                                   headers={**CASEWORKER, "Idempotency-Key": f"search-{again['external_id']}"})
        assert recorded.status_code == 202
        assert (recorded.json()["child_ref"], recorded.json()["case_id"]) == (child_ref, case_id)

    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        for _ in range(100):
            log = (await http.get(f"/v1/children/{child_ref}/access",
                                  headers=token(Role.auditor, "inspector-2"))).json()
            searches = [entry for entry in log if entry["action"] == "search"]
            if len(searches) == 3:
                break
            await asyncio.sleep(0.1)
    assert [(s["accessor_ref"], s["outcome"], s["purpose"]) for s in searches] == [
        ("cw-search", "shown", "assessment"), ("cw-search", "shown", "assessment"),
        ("cw-luzhou", "refused", "assessment")]
    assert searches[0]["fields"] == ["national_id"] and searches[1]["fields"] == ["name", "birth_date"]
    assert searches[2]["refusal"] == "outside_territory" and searches[2]["fields"] == []
