"""Every read of a child's personal data is itself on the audit ledger — who, which agency,
which record, which fields, for what purpose — and an agency reads only what its duty needs,
only while a referral to it is open. On the real stack, with every service as a process."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx

from services.intake.disclosure import load_disclosure
from shared.auth import Role, issue_token
from shared.contracts.vocabulary import Agency
from shared.settings import Settings
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, token
from tests.e2e.test_intake_assessment import of_case
from tests.e2e.watch import TopicWatcher

POLICE = "referral.to.police"


def officer(agency: str, subject: str | None = None) -> dict[str, str]:
    return token(Role.agency_officer, subject or f"{agency}-officer-7", agency=agency)


async def eventually(call, accept, *, timeout: float = 30.0) -> httpx.Response:
    """Call until the answer is accepted: intake hears of a referral shortly after the agency."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answer = await call()
        if accept(answer) or loop.time() > deadline:
            return answer
        await asyncio.sleep(0.1)


async def access_log(
    services: RunningServices, child_ref: str, *, count: int = 1, until=lambda log: True
) -> list[dict]:
    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        answer = await eventually(
            lambda: http.get(f"/v1/children/{child_ref}/access", headers=token(Role.auditor, "inspector-2")),
            lambda a: a.status_code == 200 and len(a.json()) >= count and until(a.json()),
        )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def reported_to_police(
    infra, services: RunningServices, report: dict | None = None
) -> tuple[dict, dict, dict]:
    """A red abuse report over HTTP (an emergency), from a caseworker (who is told the case it opened);
    returns the report, intake's answer and the police referral."""
    report = report or hotline_report()
    async with TopicWatcher(infra.kafka_bootstrap, [POLICE]) as watcher:
        async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
            accepted = await http.post(
                "/v1/reports", json=report, headers=token(Role.caseworker, "cw-intake")
            )
        assert accepted.status_code == 202, accepted.text
        (referral,) = await watcher.wait_for(POLICE, of_case(accepted.json()["case_id"]), timeout=60)
    return report, accepted.json(), referral.json()["payload"]


async def test_an_agency_reads_what_its_duty_needs_while_its_referral_is_open_and_each_read_is_on_the_ledger(
    infra, services: RunningServices
) -> None:
    report, accepted, referral = await reported_to_police(infra, services)
    case_id, child_ref = accepted["case_id"], accepted["child_ref"]
    police = officer("police")
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as http:
        listed = (await http.get(f"/v1/referrals/{referral['referral_id']}", headers=police)).json()
    details_url = listed["child_details_url"]
    assert details_url == f"{services.urls['intake']}/v1/cases/{case_id}/child"

    async with httpx.AsyncClient() as http:
        read = await eventually(
            lambda: http.get(details_url, params={"purpose": "protection_action"}, headers=police),
            lambda a: a.status_code == 200,
        )
        unexplained = await http.get(details_url, headers=police)
        idle_curiosity = await http.get(details_url, params={"purpose": "curiosity"}, headers=police)
        not_referred = await http.get(
            details_url, params={"purpose": "protection_action"}, headers=officer("youth_league")
        )
        other_city = await http.get(
            details_url,
            params={"purpose": "assessment"},
            headers={
                "Authorization": "Bearer "
                + issue_token(Settings(), subject="cw-9", role=Role.caseworker, jurisdiction="1405")
            },
        )
        auditor = await http.get(
            details_url, params={"purpose": "supervision"}, headers=token(Role.auditor, "a-1")
        )

    assert read.status_code == 200, read.text
    details = read.json()
    police_fields = [f.value for f in load_disclosure().agencies[Agency.police]]
    assert details["shown"] == police_fields
    child = report["child"]
    assert details["identity"]["name"] == child["name"]
    assert details["identity"]["national_id"] == child["national_id"]
    assert details["identity"]["address"] == child["address"]
    assert set(details["identity"]) <= set(police_fields)
    (told,) = details["reports"]
    assert told["narrative"] == report["narrative"]
    assert "reporter" not in told, "who reported the child stays with the caseworkers"
    assert report["reporter"]["name"] not in read.text and report["reporter"]["phone"] not in read.text

    assert unexplained.status_code == 422 and unexplained.json()["detail"][0]["loc"] == ["query", "purpose"]
    assert idle_curiosity.status_code == 422 and idle_curiosity.json()["detail"][0]["loc"] == [
        "query",
        "purpose",
    ]
    assert not_referred.status_code == 404, "an agency with no referral of the case reads nothing"
    assert other_city.status_code == 404, "another city's caseworker reads nothing"
    assert auditor.status_code == 403, "an auditor inspects the record of reads, not the child"

    def refused_to(who: str):
        return lambda log: any(e["accessor_ref"] == who and e["outcome"] == "refused" for e in log)

    log = await access_log(
        services,
        child_ref,
        until=lambda log: (
            refused_to("cw-9")(log)
            and refused_to("youth_league-officer-7")(log)
            and any(e["outcome"] == "shown" for e in log)
        ),
    )
    (entry,) = [e for e in log if e["outcome"] == "shown"]
    assert entry["access_id"] == details["access_id"]
    assert (entry["accessor_ref"], entry["accessor_role"], entry["agency"], entry["referral_id"]) == (
        "police-officer-7",
        "agency_officer",
        "police",
        referral["referral_id"],
    )
    assert (entry["record"], entry["action"], entry["purpose"], entry["case_id"]) == (
        "child_details",
        "read",
        "protection_action",
        case_id,
    )
    assert entry["fields"] == police_fields
    # The refused attempts on this child are on record too, with why and by whom.
    # (The police's own polls before intake heard of their referral were refused too.)
    refused = sorted(
        (e["accessor_ref"], e["agency"], e["refusal"], e["fields"], e["referral_id"])
        for e in log
        if e["outcome"] == "refused" and e["accessor_ref"] != "police-officer-7"
    )
    assert refused == [
        ("cw-9", None, "outside_territory", [], None),
        ("youth_league-officer-7", "youth_league", "no_open_referral", [], None),
    ]

    # The police decline: from then on they read nothing more of this child.
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as http:
        declined = await http.post(
            f"/v1/referrals/{referral['referral_id']}/responses",
            headers=police,
            json={"action": "decline", "reason": "handled_by_another_station"},
        )
    assert declined.status_code == 200, declined.text
    async with httpx.AsyncClient() as http:
        after = await eventually(
            lambda: http.get(details_url, params={"purpose": "protection_action"}, headers=police),
            lambda a: a.status_code == 404,
        )
    assert after.status_code == 404, "access ends with the referral"
    last_police = lambda log: [e for e in log if e["accessor_ref"] == "police-officer-7"][-1]  # noqa: E731
    log = await access_log(services, child_ref, until=lambda log: last_police(log)["outcome"] == "refused")
    assert last_police(log)["refusal"] == "no_open_referral"

    # The ledger's own copy — the case timeline — names the read but holds none of the data.
    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        timeline = (
            await http.get(f"/v1/cases/{case_id}/timeline", headers=token(Role.auditor, "inspector-2"))
        ).json()
    assert "access.recorded" in [step["event_type"] for step in timeline]
    for secret in (child["name"], child["national_id"], child["address"], report["narrative"]):
        assert secret not in str(timeline)


async def test_caseworkers_reads_and_changes_of_the_archive_are_recorded_with_their_purpose(
    infra, services: RunningServices
) -> None:
    report, accepted, _ = await reported_to_police(infra, services)
    child_ref, case_id = accepted["child_ref"], accepted["case_id"]
    caseworker = token(Role.caseworker, "cw-7")
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
        whole = await http.get(
            f"/v1/cases/{case_id}/child", params={"purpose": "assessment"}, headers=caseworker
        )
        written = await http.put(
            f"/v1/children/{child_ref}/archive",
            params={"purpose": "home_visit"},
            headers={**caseworker, "If-Match": "0"},
            json={"home": "Sleeps at a neighbour's."},
        )
        unexplained = await http.put(
            f"/v1/children/{child_ref}/archive", headers=caseworker, json={"home": "x"}
        )
        read = await http.get(
            f"/v1/children/{child_ref}/archive",
            params={"purpose": "case_planning"},
            headers=token(Role.supervisor, "sup-3"),
        )
        elsewhere = await http.get(
            f"/v1/children/{child_ref}/archive",
            params={"purpose": "assessment"},
            headers={
                "Authorization": "Bearer "
                + issue_token(Settings(), subject="cw-9", role=Role.caseworker, jurisdiction="1405")
            },
        )
    assert elsewhere.status_code == 404 and "Sleeps" not in elsewhere.text
    assert (
        whole.status_code == 200
        and whole.json()["reports"][0]["reporter"]["name"] == report["reporter"]["name"]
    )
    assert written.status_code == 200 and read.json()["home"] == "Sleeps at a neighbour's."
    assert unexplained.status_code == 422 and unexplained.json()["detail"][0]["loc"] == ["query", "purpose"]

    log = await access_log(services, child_ref, count=4)
    assert [(e["accessor_ref"], e["record"], e["action"], e["purpose"], e["outcome"]) for e in log] == [
        ("cw-7", "child_details", "read", "assessment", "shown"),
        ("cw-7", "archive", "update", "home_visit", "shown"),
        ("sup-3", "archive", "read", "case_planning", "shown"),
        ("cw-9", "archive", "read", "assessment", "refused"),
    ]
    assert [e["access_id"] for e in log[:3]] == [
        whole.json()["access_id"],
        written.json()["access_id"],
        read.json()["access_id"],
    ]
    assert "reporters" in log[0]["fields"] and "home" in log[1]["fields"]
    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        nobody = await http.get(
            f"/v1/children/{uuid.uuid4()}/access", headers=token(Role.auditor, "inspector-2")
        )
        caseworker_asks = await http.get(f"/v1/children/{child_ref}/access", headers=caseworker)
    assert nobody.status_code == 404
    assert caseworker_asks.status_code == 403, "the access log is for supervisors and auditors"


@contextmanager
def access_records_refused(database_url: str, schema: str) -> Iterator[None]:
    """While inside, the schema's outbox refuses every access record: no read can be recorded."""
    psql = ["psql", database_url.replace("+asyncpg", ""), "-v", "ON_ERROR_STOP=1", "-qAtc"]
    subprocess.run(
        [
            *psql,
            f"""
        CREATE FUNCTION {schema}.refuse_access_records() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'access records refused for this test'; END $$;
        CREATE TRIGGER refuse_access_records BEFORE INSERT ON {schema}.outbox FOR EACH ROW
        WHEN (NEW.event_type = 'access.recorded') EXECUTE FUNCTION {schema}.refuse_access_records();
    """,
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield
    finally:
        subprocess.run(
            [
                *psql,
                f"DROP TRIGGER refuse_access_records ON {schema}.outbox; "
                f"DROP FUNCTION {schema}.refuse_access_records();",
            ],
            check=True,
            capture_output=True,
        )


async def test_nothing_is_shown_when_the_read_cannot_be_recorded(infra, services: RunningServices) -> None:
    report, accepted, _ = await reported_to_police(infra, services)
    with access_records_refused(infra.database_url, "intake"):
        async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
            refused = await http.get(
                f"/v1/cases/{accepted['case_id']}/child",
                params={"purpose": "assessment"},
                headers=token(Role.caseworker, "cw-7"),
            )
            archive = await http.get(
                f"/v1/children/{accepted['child_ref']}/archive",
                params={"purpose": "assessment"},
                headers=token(Role.caseworker, "cw-7"),
            )
    assert refused.status_code == 500 and archive.status_code == 500
    for secret in (report["child"]["name"], report["child"]["national_id"], report["narrative"]):
        assert secret not in refused.text
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
        recorded = await http.get(
            f"/v1/cases/{accepted['case_id']}/child",
            params={"purpose": "assessment"},
            headers=token(Role.caseworker, "cw-7"),
        )
    assert recorded.status_code == 200, "once reads can be recorded again, they are served"


async def test_a_list_shows_each_case_by_age_sex_and_what_happened_and_records_each_read(
    infra, services: RunningServices
) -> None:
    """The board's and the inbox's one line per case (intake's summaries): what the reader may see,
    never another county's case nor one not referred to the agency, each read on the ledger."""
    report = hotline_report(
        narrative="The boy next door, about seven, bruised face.\nHe cries at night.",
        child={"sex": "M", "birth_date": None, "age_estimate": 7, "name": "Unknown boy"},
    )
    supervisor = token(Role.supervisor, "sup-lines", jurisdiction="140402")
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
        accepted = await http.post("/v1/reports", json=report, headers=token(Role.caseworker, "cw-intake"))
        assert accepted.status_code == 202, accepted.text
        case = accepted.json()
        other = uuid.uuid4()  # no such case: left out like another county's
        answer = await http.post(
            "/v1/cases/summaries", json={"case_ids": [str(other), case["case_id"]]}, headers=supervisor
        )
        elsewhere = await http.post(
            "/v1/cases/summaries",
            json={"case_ids": [case["case_id"]]},
            headers=token(Role.supervisor, "sup-luzhou", jurisdiction="140403"),
        )
        asked = {"case_ids": [case["case_id"]]}
        police = await eventually(
            lambda: http.post("/v1/cases/summaries", json=asked, headers=officer("police")),
            lambda a: a.status_code == 200 and a.json()["cases"],
        )
        not_referred = await http.post("/v1/cases/summaries", json=asked, headers=officer("youth_league"))
        auditor = await http.post("/v1/cases/summaries", json=asked, headers=token(Role.auditor, "a-1"))
        empty = await http.post("/v1/cases/summaries", json={"case_ids": []}, headers=supervisor)
    assert answer.status_code == 200, answer.text
    (line,) = answer.json()["cases"]
    assert (line["case_id"], line["sex"], line["age"], line["headline"]) == (
        case["case_id"],
        "M",
        7,
        "The boy next door, about seven, bruised face.",
    )
    assert line["case_number"] == case["case_number"] and line["jurisdiction"] == report["jurisdiction"]
    assert elsewhere.status_code == 200 and elsewhere.json()["cases"] == []
    assert police.json()["cases"][0]["headline"] == line["headline"], (
        "the police read the case referred to them"
    )
    assert not_referred.status_code == 200 and not_referred.json()["cases"] == [], "not while not referred"
    assert auditor.status_code == 403 and empty.status_code == 422
    readers = lambda log: {e["accessor_ref"] for e in log if e["purpose"] == "worklist"}  # noqa: E731
    log = await access_log(
        services, case["child_ref"], until=lambda log: {"sup-lines", "police-officer-7"} <= readers(log)
    )
    (read,) = [e for e in log if e["purpose"] == "worklist" and e["accessor_ref"] == "sup-lines"]
    police_read = [e for e in log if e["purpose"] == "worklist" and e["accessor_ref"] == "police-officer-7"][
        -1
    ]
    assert (police_read["agency"], police_read["referral_id"] is not None) == ("police", True)
    assert (read["accessor_ref"], read["record"], read["outcome"]) == ("sup-lines", "child_details", "shown")
    assert set(read["fields"]) == {"sex", "birth_date", "age_estimate", "narratives"}


async def test_the_access_log_across_children_by_reader_territory_and_period(
    infra, services: RunningServices
) -> None:
    """Who read children's data: an auditor asks by reader and period, a supervisor sees their own
    territory's entries only, newest first, in pages."""
    reader = f"cw-{uuid.uuid4().hex[:8]}"
    started = datetime.now(UTC) - timedelta(seconds=1)
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
        cases = []
        for _ in range(3):
            accepted = await http.post(
                "/v1/reports", json=hotline_report(), headers=token(Role.caseworker, "cw-intake")
            )
            cases.append(accepted.json())
        for case in cases:
            read = await http.get(
                f"/v1/cases/{case['case_id']}/child",
                params={"purpose": "assessment"},
                headers=token(Role.caseworker, reader, jurisdiction="140402"),
            )
            assert read.status_code == 200, read.text
    auditor = token(Role.auditor, "inspector-2")
    async with httpx.AsyncClient(base_url=services.urls["audit"]) as http:
        mine = {"reader": reader}
        answer = await eventually(
            lambda: http.get("/v1/access", params=mine, headers=auditor),
            lambda a: a.status_code == 200 and len(a.json()["entries"]) == 3,
        )
        entries = answer.json()["entries"]
        # Newest on the ledger first: each read travels on its case's partition, so the ledger may
        # record three reads of one second in another order than they were made.
        assert [e["seq"] for e in entries] == sorted((e["seq"] for e in entries), reverse=True), (
            "newest first"
        )
        assert {e["case_id"] for e in entries} == {c["case_id"] for c in cases}
        assert {(e["purpose"], e["outcome"], e["jurisdiction"]) for e in entries} == {
            ("assessment", "shown", "140402001001")
        }
        assert {e["child_ref"] for e in entries} == {c["child_ref"] for c in cases}
        first = (await http.get("/v1/access", params={**mine, "limit": 2}, headers=auditor)).json()
        rest = (
            await http.get(
                "/v1/access", params={**mine, "limit": 2, "before": first["next"]}, headers=auditor
            )
        ).json()
        assert [e["seq"] for e in first["entries"] + rest["entries"]] == [e["seq"] for e in entries]
        assert rest["next"] is None
        period = {
            **mine,
            "since": started.isoformat(),
            "until": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        }
        assert len((await http.get("/v1/access", params=period, headers=auditor)).json()["entries"]) == 3
        later = {**mine, "since": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}
        assert (await http.get("/v1/access", params=later, headers=auditor)).json()["entries"] == []
        here = token(Role.supervisor, "sup-chengqu", jurisdiction="140402")
        there = token(Role.supervisor, "sup-luzhou", jurisdiction="140403")
        assert len((await http.get("/v1/access", params=mine, headers=here)).json()["entries"]) == 3
        assert (await http.get("/v1/access", params=mine, headers=there)).json()["entries"] == []
        assert (await http.get("/v1/access", params={**mine, "territory": "140403"}, headers=auditor)).json()[
            "entries"
        ] == []
        naive = await http.get("/v1/access", params={"since": "2026-12-01T00:00:00"}, headers=auditor)
        assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == ["query", "since"]
        assert (await http.get("/v1/access", headers=token(Role.caseworker, reader))).status_code == 403
