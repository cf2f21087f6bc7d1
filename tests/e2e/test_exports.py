"""Children's details exported from a list (issue 24): intake answers many cases in one request, every
child's export on the access ledger with its purpose before anything is shown, and a case not the
reader's to see left out and counted, never named. On the real stack, with every service a process."""

from __future__ import annotations

import uuid

import httpx

from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, token
from tests.e2e.test_access_audit import access_log


async def _reported(http: httpx.AsyncClient, name: str, jurisdiction: str) -> dict:
    report = hotline_report(child={"name": name, "national_id": None}, jurisdiction=jurisdiction)
    accepted = await http.post(
        "/v1/reports", json=report, headers=token(Role.caseworker, "cw-intake", jurisdiction="14")
    )
    assert accepted.status_code == 202, accepted.text
    return accepted.json()


async def test_an_export_records_each_child_with_its_purpose_and_leaves_out_what_is_not_the_readers(
    infra, services: RunningServices
) -> None:
    names = [f"Export Child {uuid.uuid4().hex[:6]}" for _ in range(3)]
    supervisor = token(Role.supervisor, "sup-export", jurisdiction="140402")
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
        ours = [await _reported(http, name, "140402001001") for name in names[:2]]
        theirs = await _reported(http, names[2], "140403001001")  # another county's child
        unknown = str(uuid.uuid4())
        asked = [ours[0]["case_id"], theirs["case_id"], unknown, ours[1]["case_id"]]
        answer = await http.post(
            "/v1/children/export",
            json={"case_ids": asked, "purpose": "legal_proceedings"},
            headers=supervisor,
        )
        no_purpose = await http.post("/v1/children/export", json={"case_ids": asked}, headers=supervisor)
        agency = await http.post(
            "/v1/children/export",
            json={"case_ids": asked, "purpose": "investigation"},
            headers=token(Role.agency_officer, "police-export", agency="police"),
        )
    assert answer.status_code == 200, answer.text
    exported = answer.json()
    assert [child["case_id"] for child in exported["children"]] == [ours[0]["case_id"], ours[1]["case_id"]]
    assert [child["identity"]["name"] for child in exported["children"]] == names[:2]
    assert exported["left_out"] == 2 and exported["purpose"] == "legal_proceedings"
    assert names[2] not in answer.text and theirs["case_id"] not in answer.text, "never named"
    assert no_purpose.status_code == 422 and no_purpose.json()["detail"][0]["loc"] == ["body", "purpose"]
    assert agency.status_code == 403, "an agency reads one child at a time, by its referral"

    for case, child in zip(ours, exported["children"], strict=True):
        log = await access_log(
            services,
            case["child_ref"],
            until=lambda log: any(e["action"] == "export" for e in log),
        )
        (entry,) = [e for e in log if e["action"] == "export"]
        assert (entry["accessor_ref"], entry["purpose"], entry["outcome"]) == (
            "sup-export",
            "legal_proceedings",
            "shown",
        )
        assert entry["access_id"] == child["access_id"] and "name" in entry["fields"]
    log = await access_log(
        services, theirs["child_ref"], until=lambda log: any(e["action"] == "export" for e in log)
    )
    (refused,) = [e for e in log if e["action"] == "export"]
    assert (refused["outcome"], refused["refusal"], refused["fields"]) == ("refused", "outside_territory", [])
