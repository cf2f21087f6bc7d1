"""Reports from every channel become one typed, graded case per child — on the real stack,
with the real intake and assessment processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid

import httpx
from aiokafka import AIOKafkaProducer

from shared.auth import Role, issue_token
from shared.settings import Settings
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, token
from tests.e2e.watch import Seen, TopicWatcher

RAW, REPORTED, ASSESSED, RAW_DLQ = (
    "intake.reports.raw",
    "case.reported",
    "case.assessed",
    "intake.reports.raw.dlq",
)


def kcat_produce(bootstrap: str, report: dict) -> None:
    """The hotline vendor's side, with an independent client: one JSON line, keyed by its id."""
    subprocess.run(
        ["kcat", "-P", "-b", bootstrap, "-t", RAW, "-k", report["external_id"]],
        input=json.dumps(report).encode(),
        check=True,
        timeout=30,
    )


def by_external_id(external_id: str):
    return lambda seen: seen.json()["payload"]["external_id"] == external_id


def of_case(case_id: str):
    return lambda seen: seen.json()["case_id"] == case_id


async def graded(watcher: TopicWatcher, external_id: str, *, timeout: float = 20.0) -> tuple[Seen, Seen]:
    (reported,) = await watcher.wait_for(REPORTED, by_external_id(external_id), timeout=timeout)
    case_id = reported.json()["case_id"]
    assessed = await watcher.wait_for(ASSESSED, of_case(case_id), timeout=timeout)
    return reported, assessed[-1]


async def test_hotline_report_of_immediate_danger_is_graded_red_emergency(
    infra, services: RunningServices
) -> None:
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED]) as watcher:
        warm_up = hotline_report()  # the first message after start-up pays for group joins
        kcat_produce(infra.kafka_bootstrap, warm_up)
        await graded(watcher, warm_up["external_id"], timeout=60)

        report = hotline_report()
        started = time.time()
        kcat_produce(infra.kafka_bootstrap, report)
        reported, assessed = await graded(watcher, report["external_id"])
    grade = assessed.json()["payload"]
    assert grade["risk_level"] == "red" and grade["emergency"] is True
    assert any(f["code"].endswith("immediate_danger") for f in grade["factors"]), "the reason is on record"
    assert grade["stage"] == "written_review"
    # How fast is the benchmarks' to measure (docs/PERFORMANCE.md), never asserted here.
    print(f"hotline report → case.assessed in {assessed.timestamp_ms / 1000 - started:.3f} s")


async def test_left_behind_child_then_reported_by_school_over_http_joins_the_same_case(
    infra, services: RunningServices
) -> None:
    child = {
        "name": f"Li {uuid.uuid4().hex[:6]}",
        "national_id": None,
        "birth_date": "2015-03-02",
        "sex": "M",
    }
    hotline = hotline_report(
        child=child, categories=["left_behind"], indicators=["left_behind", "out_of_school"]
    )
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED]) as watcher:
        kcat_produce(infra.kafka_bootstrap, hotline)
        first_reported, first_grade = await graded(watcher, hotline["external_id"])
        grade = first_grade.json()["payload"]
        assert grade["risk_level"] in ("orange", "blue")
        assert "education" in grade["needs"]
        assert grade["emergency"] is False

        # The same child, spelt differently, reported by the school over HTTP.
        school = hotline_report(
            channel="school",
            child={**child, "name": child["name"].upper().replace(" ", "  ")},
            reporter={"role": "school", "name": None, "phone": None, "anonymous": True},
            categories=["left_behind"],
            indicators=["out_of_school"],
        )
        async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
            answer = await http.post("/v1/reports", json=school, headers=token())
        assert answer.status_code == 202, answer.text
        assert set(answer.json()) == {"report_id", "status"}, "the school is given a receipt, nothing more"
        case_id = first_reported.json()["case_id"]
        (second_reported,) = await watcher.wait_for(REPORTED, by_external_id(school["external_id"]))
        await watcher.wait_for(ASSESSED, of_case(case_id), count=2)
    event = second_reported.json()["payload"]
    assert event["case_id"] == case_id, "the school's report joined the child's open case"
    assert event["earlier_reports"] == 1 and event["channel"] == "school"
    assert event["report_id"] == answer.json()["report_id"]
    regraded = [s.json()["payload"] for s in watcher.matching(ASSESSED, of_case(case_id))]
    assert len(regraded) == 2 and regraded[-1]["score"] > regraded[0]["score"], (
        "an earlier report raises the score"
    )


def malformed_messages(count: int) -> list[bytes]:
    """Every way a hotline message can be wrong, round-robin."""

    def mutate(change) -> bytes:
        report = hotline_report()
        change(report)
        return json.dumps(report).encode()

    kinds = [
        lambda: b"{not json at all",
        lambda: b"\xff\xfe binary",
        lambda: mutate(lambda r: r.update(received_at=12345)),
        lambda: mutate(lambda r: r.pop("jurisdiction")),
        lambda: mutate(lambda r: r.update(categories=["werewolf"])),
        lambda: mutate(lambda r: r.update(indicators=["immediate_danger", "unknown_indicator"])),
        lambda: mutate(lambda r: r.update(jurisdiction="14")),
        lambda: mutate(lambda r: r.update(schema_version=2)),
        lambda: mutate(lambda r: r["child"].update(birth_date="2001-01-01")),  # an adult
        lambda: mutate(lambda r: r.update(narrative="x" * 70_000)),  # oversize
        lambda: mutate(lambda r: r["reporter"].update(anonymous=True)),  # anonymous, yet named
        lambda: mutate(lambda r: r["child"].update(name=None, national_id=None)),  # unidentifiable
        lambda: mutate(lambda r: r.update(extra_field=True)),
    ]
    return [kinds[n % len(kinds)]() for n in range(count)]


async def test_a_thousand_malformed_messages_go_to_the_dlq_and_every_valid_one_is_graded(
    infra, services: RunningServices
) -> None:
    run = uuid.uuid4().hex[:8]
    bad = malformed_messages(1000)
    good = [hotline_report(categories=["street"], indicators=["begging"]) for _ in range(100)]
    messages = [(f"bad-{run}-{n}".encode(), value) for n, value in enumerate(bad)]
    for n, report in enumerate(good):  # interleaved: one valid after every ten malformed
        messages.insert(n * 11 + 5, (report["external_id"].encode(), json.dumps(report).encode()))
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED, RAW_DLQ]) as watcher:
        producer = AIOKafkaProducer(
            bootstrap_servers=infra.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            max_request_size=1024 * 1024,
        )
        await producer.start()
        try:
            await asyncio.gather(*[await producer.send(RAW, value, key=key) for key, value in messages])
        finally:
            await producer.stop()
        mine = lambda seen: seen.key is not None and seen.key.startswith(f"bad-{run}-".encode())  # noqa: E731
        dead = await watcher.wait_for(RAW_DLQ, mine, count=len(bad), timeout=120)
        external_ids = {r["external_id"] for r in good}
        reported = await watcher.wait_for(
            REPORTED,
            lambda s: s.json()["payload"]["external_id"] in external_ids,
            count=len(good),
            timeout=60,
        )
        cases = {s.json()["case_id"] for s in reported}
        assessed = await watcher.wait_for(
            ASSESSED, lambda s: s.json()["case_id"] in cases, count=len(cases), timeout=60
        )
    assert len(dead) == len(bad), "each malformed message is dead-lettered exactly once"
    for letter in dead:
        assert letter.headers["x-dlq-original-topic"] == RAW
        assert letter.headers["x-dlq-error"], "every dead letter says why"
    reasons = " ".join(letter.headers["x-dlq-error"] for letter in dead)
    for expected in ("not JSON", "jurisdiction", "categories", "18 or older", "limit is", "anonymous"):
        assert expected in reasons, f"a reason mentioning {expected!r}"
    assert len(cases) == len(good) and {s.json()["case_id"] for s in assessed} == cases, (
        "every valid one is graded"
    )
    names = {r["child"]["name"] for r in good}
    assert not any(name in reasons for name in names), "reasons never echo personal data"


async def test_http_report_is_idempotent_and_answers_422_naming_each_bad_field(
    infra, services: RunningServices
) -> None:
    report = hotline_report(
        channel="hospital", reporter={"role": "hospital", "name": "Dr Wu", "phone": None, "anonymous": False}
    )
    headers = {**token(subject="hospital-7"), "Idempotency-Key": f"key-{uuid.uuid4().hex}"}
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
        first = await http.post("/v1/reports", json=report, headers=headers)
        again = await http.post("/v1/reports", json=report, headers=headers)
        other = await http.post("/v1/reports", json=hotline_report(), headers=headers)
        bad = await http.post(
            "/v1/reports", json={**report, "jurisdiction": "1", "categories": ["nope"]}, headers=token()
        )
        anonymous_caller = await http.post("/v1/reports", json=report)
    assert first.status_code == 202 and again.status_code == 202
    assert again.json()["report_id"] == first.json()["report_id"], "a retried submission is one report"
    assert other.status_code == 409, "a reused key with another report is refused"
    assert bad.status_code == 422
    fields = {tuple(err["loc"]) for err in bad.json()["detail"]}
    assert ("body", "jurisdiction") in fields and any(loc[:2] == ("body", "categories") for loc in fields)
    assert "Dr Wu" not in bad.text and "input" not in bad.text, "the error names fields, not values"
    assert anonymous_caller.status_code == 401


async def test_no_personal_data_in_any_event_intake_or_assessment_emits(
    infra, services: RunningServices
) -> None:
    reports = [hotline_report(), hotline_report(categories=["no_guardian"], indicators=["no_caregiver"])]
    school = hotline_report(channel="school")
    secrets: set[str] = set()
    for report in [*reports, school]:
        child, reporter = report["child"], report["reporter"]
        secrets |= {
            child["name"],
            child["national_id"],
            child["address"],
            child["school"],
            child["birth_date"],
            report["narrative"],
            reporter["name"],
            reporter["phone"],
        }
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED]) as watcher:
        for report in reports:
            kcat_produce(infra.kafka_bootstrap, report)
        async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
            assert (await http.post("/v1/reports", json=school, headers=token())).status_code == 202
        for report in [*reports, school]:
            await graded(watcher, report["external_id"])
    emitted = watcher.seen
    assert len(emitted) >= 6
    forbidden_keys = {
        "name",
        "national_id",
        "phone",
        "address",
        "narrative",
        "birth_date",
        "reporter",
        "school",
    }
    for seen in emitted:
        text = seen.value.decode() + json.dumps(seen.headers)
        leaked = [s for s in secrets if s and s in text]
        assert not leaked, f"{seen.topic} carries personal data"
        assert not forbidden_keys & set(_all_keys(seen.json())), f"{seen.topic} has a personal-data field"


def _all_keys(value) -> list[str]:
    if isinstance(value, dict):
        return list(value) + [k for v in value.values() for k in _all_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _all_keys(v)]
    return []


async def test_supervisor_override_and_needs_assessment_over_http_move_grade_and_stage(
    infra, services: RunningServices
) -> None:
    report = hotline_report(
        categories=["left_behind"],
        indicators=["left_behind", "out_of_school"],
        child={"birth_date": "2015-03-02"},
    )
    caseworker, supervisor = token(Role.caseworker, "cw-1"), token(Role.supervisor, "sup-1")
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED]) as watcher:
        kcat_produce(infra.kafka_bootstrap, report)
        reported, _ = await graded(watcher, report["external_id"])
        case_id = reported.json()["case_id"]
        async with httpx.AsyncClient(base_url=services.urls["assessment"]) as http:
            refused = await http.post(
                f"/v1/cases/{case_id}/override",
                headers=caseworker,
                json={"risk_level": "red", "reason": "supervisor_judgement"},
            )
            overridden = await http.post(
                f"/v1/cases/{case_id}/override",
                headers=supervisor,
                json={"risk_level": "red", "reason": "repeated_absence_from_home"},
            )
            visit = await http.post(
                f"/v1/cases/{case_id}/home-visits",
                headers=caseworker,
                json={
                    "visited_at": "2026-11-29T05:00:00Z",
                    "indicators": ["psychological_distress"],
                    "needs": ["psychological"],
                    "findings": ["child_alone_at_night"],
                },
            )
            plan = await http.post(
                f"/v1/cases/{case_id}/plans",
                headers=caseworker,
                json={
                    "items": [
                        {"need": "education", "agencies": ["education"], "action": "return_to_school"},
                        {
                            "need": "psychological",
                            "agencies": ["social_work"],
                            "action": "weekly_counselling",
                        },
                    ]
                },
            )
            read = await http.get(f"/v1/cases/{case_id}/assessment", headers=caseworker)
        events = await watcher.wait_for(ASSESSED, of_case(case_id), count=4)
    assert refused.status_code == 403, "only a supervisor may override"
    assert overridden.status_code == 200, overridden.text
    assert overridden.json()["risk_level"] == "red" and overridden.json()["initial_risk_level"] == "orange"
    assert visit.status_code == 201 and visit.json()["stage"] == "needs_assessment"
    assert plan.status_code == 201 and plan.json()["stage"] == "plan"
    stages = [e.json()["payload"]["stage"] for e in events]
    assert stages == ["written_review", "written_review", "needs_assessment", "plan"]
    override_event = events[1].json()["payload"]
    assert (
        override_event["risk_level"],
        override_event["initial_risk_level"],
        override_event["overridden"],
        override_event["override_reason"],
    ) == ("red", "orange", True, "repeated_absence_from_home")
    history = read.json()["history"]
    assert [h["cause"] for h in history] == ["report", "override", "home_visit", "plan"]
    assert all(h["factors"] for h in history)


async def test_caseworkers_keep_the_childs_information_archive_in_intake(
    infra, services: RunningServices
) -> None:
    report = hotline_report(categories=["left_behind"], indicators=["left_behind"])
    async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
        caseworker = token(Role.caseworker, "cw-7")
        accepted = (await http.post("/v1/reports", json=report, headers=caseworker)).json()
        child = accepted["child_ref"]
        why = {"purpose": "home_visit"}
        empty = await http.get(f"/v1/children/{child}/archive", params=why, headers=caseworker)
        written = await http.put(
            f"/v1/children/{child}/archive",
            params=why,
            headers={**caseworker, "If-Match": "0"},
            json={
                "home": "Lives with a grandmother of 80.",
                "school": "Misses Mondays.",
                "risks": "Alone after dark.",
            },
        )
        stale = await http.put(
            f"/v1/children/{child}/archive",
            params=why,
            headers={**caseworker, "If-Match": "0"},
            json={"home": "overwrites a colleague"},
        )
        read = await http.get(f"/v1/children/{child}/archive", params=why, headers=caseworker)
        reporter = await http.get(f"/v1/children/{child}/archive", params=why, headers=token())
        elsewhere = await http.get(
            f"/v1/children/{child}/archive",
            params=why,
            headers={
                "Authorization": "Bearer "
                + issue_token(Settings(), subject="cw-9", role=Role.caseworker, jurisdiction="1405")
            },
        )
    assert empty.status_code == 200 and empty.json()["version"] == 0
    assert written.status_code == 200 and written.json()["version"] == 1
    assert stale.status_code == 409, "a stale version never overwrites a colleague's update"
    assert read.json()["home"] == "Lives with a grandmother of 80." and read.json()["updated_by"] == "cw-7"
    assert reporter.status_code == 403, "a reporting institution reads nothing back"
    assert elsewhere.status_code == 404, "another city's caseworker cannot see the child"
