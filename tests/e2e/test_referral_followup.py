"""Every graded case reaches the agencies that must act and is visited until the child is
safe — on the real stack, with all four services running as processes."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from services.referral.refer import OUTBOX, Resources, escalate_overdue
from services.referral.routing import load_routes
from shared.auth import Role
from shared.db.engine import make_session_factory
from shared.unit_of_work import TableOutbox, UnitOfWork, committed
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, token
from tests.e2e.test_intake_assessment import ASSESSED, REPORTED, by_external_id, graded, kcat_produce, of_case
from tests.e2e.watch import TopicWatcher

POLICE, ESCALATED, SCHEDULED, STATUS = (
    "referral.to.police",
    "referral.escalated",
    "followup.scheduled",
    "referral.status",
)
CLOSED, REASSESS = "case.closed", "case.reassessment_requested"


def officer(agency: str) -> dict[str, str]:
    return token(Role.agency_officer, f"{agency}-officer", agency=agency)


async def test_red_hotline_case_reaches_the_police_as_an_emergency_and_gets_a_weekly_plan(
    infra, services: RunningServices, tmp_path
) -> None:
    report = hotline_report()  # abuse, immediate danger
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED, POLICE, SCHEDULED]) as watcher:
        warm_up = hotline_report()  # the first message after start-up pays for the consumer groups' joins
        kcat_produce(infra.kafka_bootstrap, warm_up)
        (warm,) = await watcher.wait_for(REPORTED, by_external_id(warm_up["external_id"]), timeout=60)
        await watcher.wait_for(POLICE, of_case(warm.json()["case_id"]), timeout=60)
        await watcher.wait_for(SCHEDULED, of_case(warm.json()["case_id"]), timeout=60)
        started = asyncio.get_running_loop().time(), datetime.now(UTC).timestamp()
        kcat_produce(infra.kafka_bootstrap, report)
        reported, _ = await graded(watcher, report["external_id"])
        case_id = reported.json()["case_id"]
        (referral,) = await watcher.wait_for(POLICE, of_case(case_id))
        (plan,) = await watcher.wait_for(SCHEDULED, of_case(case_id))
    # How fast is measured by `cpnet bench surge` (docs/PERFORMANCE.md), never asserted here.
    print(f"hotline report → referral.to.police in {referral.timestamp_ms / 1000 - started[1]:.3f} s")
    created = referral.json()["payload"]
    assert created["risk_level"] == "red" and created["emergency"] is True
    assert created["details_url"].endswith(f"/v1/referrals/{created['referral_id']}")
    assert plan.json()["payload"]["cadence_days"] == 7, "a red case is visited weekly"

    # The police run the agency kit on their side: it receives and acknowledges the referral.
    out = tmp_path / "police.jsonl"
    kit = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cpnet.cli",
        "agency",
        "listen",
        "--agency",
        "police",
        "--jurisdiction",
        "1404",
        "--out",
        str(out),
        env=services.env,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with TopicWatcher(infra.kafka_bootstrap, [STATUS]) as status:
            changed = await status.wait_for(
                STATUS, lambda s: s.json()["payload"]["referral_id"] == created["referral_id"], timeout=60
            )
    finally:
        kit.send_signal(signal.SIGTERM)  # as a process supervisor stops it
        await asyncio.wait_for(kit.wait(), timeout=30)
    assert changed[0].json()["payload"]["state"] == "acknowledged"
    assert changed[0].json()["payload"]["stage"] == "services", "the first acknowledgement starts services"
    delivered = _referrals_handed_over(out)
    assert created["referral_id"] in {d["payload"]["referral_id"] for d in delivered}
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as http:
        seen = (await http.get(f"/v1/referrals/{created['referral_id']}", headers=officer("police"))).json()
        other = await http.get(f"/v1/referrals/{created['referral_id']}", headers=officer("education"))
    assert seen["state"] == "acknowledged" and seen["acknowledged_at"]
    assert other.status_code == 404, "an agency sees only referrals addressed to it"


async def test_an_unacknowledged_red_referral_escalates_one_level_up_when_the_clock_passes_24_hours(
    infra, services: RunningServices
) -> None:
    report = hotline_report()
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, POLICE, ESCALATED]) as watcher:
        kcat_produce(infra.kafka_bootstrap, report)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(report["external_id"]))
        case_id = reported.json()["case_id"]
        (referral,) = await watcher.wait_for(POLICE, of_case(case_id))
        referral_id = referral.json()["payload"]["referral_id"]

        engine = create_async_engine(infra.database_url)
        sessions = make_session_factory(engine)
        try:
            in_23h = Resources(
                routes=load_routes(),
                public_url="http://referral",
                clock=lambda: datetime.now(UTC) + timedelta(hours=23),
            )
            async with committed(sessions.begin, UnitOfWork("referral", TableOutbox(OUTBOX))) as work:
                await escalate_overdue(work, in_23h)
            await asyncio.sleep(1.0)
            assert not watcher.matching(ESCALATED, of_case(case_id)), "not before the deadline"
            in_25h = Resources(
                routes=load_routes(),
                public_url="http://referral",
                clock=lambda: datetime.now(UTC) + timedelta(hours=25),
            )
            # Sweep as often as it takes: a database that other runs left full of referrals
            # all due by then needs more than one batch, oldest first.
            while True:
                async with committed(sessions.begin, UnitOfWork("referral", TableOutbox(OUTBOX))) as work:
                    if not await escalate_overdue(work, in_25h):
                        break
        finally:
            await engine.dispose()
        # The running referral service's relay publishes what the sweep committed.
        escalated = await watcher.wait_for(
            ESCALATED, lambda s: s.json()["payload"]["referral_id"] == referral_id
        )
    event = escalated[0].json()["payload"]
    assert (event["from_jurisdiction"], event["to_jurisdiction"], event["to_level"]) == (
        "140402001001",
        "140402001000",
        "township",
    )


async def test_new_risk_on_a_visit_regrades_and_two_clean_visits_close_a_safe_case(
    infra, services: RunningServices
) -> None:
    report = hotline_report(
        categories=["illness_disability"], indicators=["disability"], child={"birth_date": "2012-01-01"}
    )
    caseworker = token(Role.caseworker, "cw-3")
    async with TopicWatcher(
        infra.kafka_bootstrap,
        [
            REPORTED,
            ASSESSED,
            SCHEDULED,
            STATUS,
            CLOSED,
            REASSESS,
            *(f"referral.to.{a}" for a in ("civil_affairs", "health")),
        ],
    ) as w:
        kcat_produce(infra.kafka_bootstrap, report)
        reported, first = await graded(w, report["external_id"])
        case_id = reported.json()["case_id"]
        assert first.json()["payload"]["risk_level"] == "blue"
        (plan,) = await w.wait_for(SCHEDULED, of_case(case_id))
        assert plan.json()["payload"]["cadence_days"] == 30, "a blue case is visited monthly"

        # Every agency does its part.
        referrals = [
            s.json()["payload"] for s in await w.wait_for("referral.to.civil_affairs", of_case(case_id))
        ] + [s.json()["payload"] for s in await w.wait_for("referral.to.health", of_case(case_id))]
        async with httpx.AsyncClient(base_url=services.urls["referral"]) as http:
            for r in referrals:
                for action in ({"action": "acknowledge"}, {"action": "complete", "outcome": "successful"}):
                    answer = await http.post(
                        f"/v1/referrals/{r['referral_id']}/responses",
                        json=action,
                        headers=officer(r["agency"]),
                    )
                    assert answer.status_code == 200, answer.text
            illegal = await http.post(
                f"/v1/referrals/{referrals[0]['referral_id']}/responses",
                json={"action": "start"},
                headers=officer(referrals[0]["agency"]),
            )
            late_receipt = await http.post(
                f"/v1/referrals/{referrals[0]['referral_id']}/responses",
                json={"action": "acknowledge"},
                headers=officer(referrals[0]["agency"]),
            )
            repeated = await http.post(
                f"/v1/referrals/{referrals[0]['referral_id']}/responses",
                json={"action": "complete", "outcome": "successful"},
                headers=officer(referrals[0]["agency"]),
            )
        assert illegal.status_code == 409 and "cannot start a referral that is done" in illegal.text
        assert late_receipt.status_code == 200 and late_receipt.json()["state"] == "done", (
            "a late receipt is harmless"
        )
        assert repeated.status_code == 200, "a repeated answer is harmless"
        await w.wait_for(
            STATUS,
            lambda s: s.json()["case_id"] == case_id and s.json()["payload"]["state"] == "done",
            count=len(referrals),
        )

        async with httpx.AsyncClient(base_url=services.urls["followup"]) as http:
            for _ in range(100):  # follow-up learns of the agencies' answers from referral.status
                plan = (await http.get(f"/v1/cases/{case_id}/plan", headers=caseworker)).json()
                if plan["referrals"] == len(referrals) and plan["open_referrals"] == 0:
                    break
                await asyncio.sleep(0.1)
            assert (plan["referrals"], plan["open_referrals"]) == (len(referrals), 0), plan

            # Two clean visits, the latest an hour ago (never dated in the future: 422).
            def visit(hours_ago, **found):
                return http.post(
                    f"/v1/cases/{case_id}/visits",
                    headers=caseworker,
                    json={  # noqa
                        "visited_at": (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(),
                        **found,
                    },
                )

            first_clean = await visit(2)
            second_clean = await visit(1)
            assert first_clean.status_code == 201 and second_clean.status_code == 201
            assert second_clean.json()["closed"] is True
        (closed,) = await w.wait_for(CLOSED, of_case(case_id))
        assert closed.json()["payload"]["stage"] == "closed"
        assert closed.json()["producer"] == "casework", (
            "follow-up says the rule is met; casework closes the case"
        )

        # A new report about the same child reopens its case, and the visits resume.
        async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
            for _ in range(100):  # intake learns of the closure from case.closed
                if (await http.get(f"/v1/cases/{case_id}", headers=caseworker)).json()["state"] == "closed":
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("intake never marked the case closed")
        again = hotline_report(
            categories=["illness_disability"],
            indicators=["serious_illness"],
            child={"national_id": report["child"]["national_id"], "birth_date": "2012-01-01"},
        )
        kcat_produce(infra.kafka_bootstrap, again)
        (reopened,) = await w.wait_for(REPORTED, by_external_id(again["external_id"]))
        await w.wait_for(SCHEDULED, of_case(case_id), count=2)
    assert reopened.json()["case_id"] == case_id, "the closed case is reopened, not a new one made"
    assert reopened.json()["payload"]["earlier_reports"] == 1


async def test_a_visit_finding_new_risk_regrades_the_case_and_changes_the_cadence(
    infra, services: RunningServices
) -> None:
    report = hotline_report(
        categories=["illness_disability"], indicators=["disability"], child={"birth_date": "2012-01-01"}
    )
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED, SCHEDULED, REASSESS]) as w:
        kcat_produce(infra.kafka_bootstrap, report)
        reported, _ = await graded(w, report["external_id"])
        case_id = reported.json()["case_id"]
        await w.wait_for(SCHEDULED, of_case(case_id))
        async with httpx.AsyncClient(base_url=services.urls["followup"]) as http:
            answer = await http.post(
                f"/v1/cases/{case_id}/visits",
                headers=token(Role.caseworker, "cw-4"),
                json={
                    "visited_at": datetime.now(UTC).isoformat(),
                    "indicators": ["visible_injury", "domestic_violence"],
                    "needs_unmet": ["legal"],
                },
            )
        assert answer.status_code == 201 and answer.json()["reassessment_requested"] is True
        await w.wait_for(REASSESS, of_case(case_id))
        regrades = await w.wait_for(ASSESSED, of_case(case_id), count=2)
        plans = await w.wait_for(SCHEDULED, of_case(case_id), count=2)
    assert regrades[-1].json()["payload"]["risk_level"] == "red"
    assert [p.json()["payload"]["cadence_days"] for p in plans] == [30, 7]


async def test_no_personal_data_in_any_referral_or_followup_event(infra, services: RunningServices) -> None:
    from shared.contracts.topics import TOPICS
    from tests.e2e.test_intake_assessment import _all_keys

    report = hotline_report()
    child, reporter = report["child"], report["reporter"]
    secrets = {
        child["name"],
        child["national_id"],
        child["address"],
        child["school"],
        child["birth_date"],
        report["narrative"],
        reporter["name"],
        reporter["phone"],
    }
    topics = [
        name for name in TOPICS if name.startswith(("referral.", "followup.")) and not name.endswith(".dlq")
    ]
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, *topics, REASSESS, CLOSED]) as watcher:
        kcat_produce(infra.kafka_bootstrap, report)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(report["external_id"]))
        case_id = reported.json()["case_id"]
        (referral,) = await watcher.wait_for(POLICE, of_case(case_id))
        async with httpx.AsyncClient(base_url=services.urls["referral"]) as http:
            await http.post(
                f"/v1/referrals/{referral.json()['payload']['referral_id']}/responses",
                json={"action": "decline", "reason": "outside_our_jurisdiction"},
                headers=officer("police"),
            )
        async with httpx.AsyncClient(base_url=services.urls["followup"]) as http:
            await http.post(
                f"/v1/cases/{case_id}/visits",
                headers=token(Role.caseworker, "cw-5"),
                json={"visited_at": datetime.now(UTC).isoformat(), "indicators": ["psychological_distress"]},
            )
        await watcher.wait_for(STATUS, of_case(case_id))
        await watcher.wait_for("followup.visits", of_case(case_id))
        await watcher.wait_for(REASSESS, of_case(case_id))
    emitted = [s for s in watcher.seen if s.topic != REPORTED]
    assert {s.topic for s in emitted} >= {POLICE, STATUS, SCHEDULED, "followup.visits", REASSESS}
    forbidden = {"name", "national_id", "phone", "address", "narrative", "birth_date", "reporter", "school"}
    for seen in emitted:
        text = seen.value.decode() + json.dumps(seen.headers)
        assert not [s for s in secrets if s in text], f"{seen.topic} carries personal data"
        assert not forbidden & set(_all_keys(seen.json())), f"{seen.topic} has a personal-data field"


async def test_due_and_overdue_visits_are_announced_once_each_however_often_the_sweep_runs(
    infra, services: RunningServices
) -> None:
    from services.followup.schedule import load_policy
    from services.followup.visits import OUTBOX as FOLLOWUP_OUTBOX
    from services.followup.visits import Resources as FollowupResources
    from services.followup.visits import announce_due_visits

    village = "140425200202"  # a village of config/territory.yaml no other test reports from
    report = hotline_report(categories=["left_behind"], indicators=["left_behind"], jurisdiction=village)
    async with TopicWatcher(
        infra.kafka_bootstrap, [REPORTED, SCHEDULED, "followup.due", "followup.overdue"]
    ) as w:
        kcat_produce(infra.kafka_bootstrap, report)
        (reported,) = await w.wait_for(REPORTED, by_external_id(report["external_id"]))
        case_id = reported.json()["case_id"]
        (plan,) = await w.wait_for(SCHEDULED, of_case(case_id))
        due_at = datetime.fromisoformat(plan.json()["payload"]["next_visit_due_at"])
        engine = create_async_engine(infra.database_url)
        sessions = make_session_factory(engine)
        try:
            for moment in (
                due_at + timedelta(hours=1),
                due_at + timedelta(hours=2),
                due_at + timedelta(hours=30),
                due_at + timedelta(hours=31),
            ):
                # A sweep run twice at each moment, as after a restart: nothing is announced twice.
                for _ in range(2):
                    outbox = TableOutbox(FOLLOWUP_OUTBOX)
                    async with committed(sessions.begin, UnitOfWork("followup", outbox)) as work:
                        await announce_due_visits(
                            work, FollowupResources(load_policy(), clock=lambda m=moment: m)
                        )
        finally:
            await engine.dispose()
        (due,) = await w.wait_for("followup.due", of_case(case_id))
        (overdue,) = await w.wait_for("followup.overdue", of_case(case_id))
        await asyncio.sleep(1.0)
    assert len(w.matching("followup.due", of_case(case_id))) == 1
    assert len(w.matching("followup.overdue", of_case(case_id))) == 1
    assert due.json()["payload"]["visit_due_at"] == overdue.json()["payload"]["visit_due_at"]
    async with httpx.AsyncClient(base_url=services.urls["followup"]) as http:
        township = {"status": "all", "jurisdiction": village[:9], "limit": 500}
        listed = (
            await http.get("/v1/visits", params=township, headers=token(Role.caseworker, "cw-6"))
        ).json()
        elsewhere = (
            await http.get(
                "/v1/visits",
                params={"status": "all", "jurisdiction": "1405"},
                headers=token(Role.caseworker, "cw-6"),
            )
        ).json()
    assert case_id in {v["case_id"] for v in listed}, "the township's list has the case"
    assert all(v["jurisdiction"].startswith(village[:9]) for v in listed), "and only the township's cases"
    assert case_id not in {v["case_id"] for v in elsewhere}


async def test_the_agency_kit_neither_misses_nor_acknowledges_twice_across_a_restart(
    infra, services: RunningServices, tmp_path
) -> None:
    out = tmp_path / "education.jsonl"
    kit_args = [
        sys.executable,
        "-m",
        "cpnet.cli",
        "agency",
        "listen",
        "--agency",
        "education",
        "--out",
        str(out),
    ]

    def education_case() -> dict:
        return hotline_report(categories=["left_behind"], indicators=["out_of_school"])

    first, second = education_case(), education_case()
    async with TopicWatcher(
        infra.kafka_bootstrap, [REPORTED, "referral.to.education", "referral.responses"]
    ) as w:
        kit = await asyncio.create_subprocess_exec(
            *kit_args, env=services.env, stderr=asyncio.subprocess.DEVNULL
        )
        kcat_produce(infra.kafka_bootstrap, first)
        (reported,) = await w.wait_for(REPORTED, by_external_id(first["external_id"]))
        (referral,) = await w.wait_for("referral.to.education", of_case(reported.json()["case_id"]))
        first_id = referral.json()["payload"]["referral_id"]
        await w.wait_for(
            "referral.responses", lambda s: s.json()["payload"]["referral_id"] == first_id, timeout=60
        )
        kit.kill()  # no clean shutdown: whatever it had not committed is delivered again
        await kit.wait()

        kcat_produce(infra.kafka_bootstrap, second)  # arrives while the agency's kit is down
        (reported,) = await w.wait_for(REPORTED, by_external_id(second["external_id"]))
        (referral,) = await w.wait_for("referral.to.education", of_case(reported.json()["case_id"]))
        second_id = referral.json()["payload"]["referral_id"]

        kit = await asyncio.create_subprocess_exec(
            *kit_args, env=services.env, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            await w.wait_for(
                "referral.responses", lambda s: s.json()["payload"]["referral_id"] == second_id, timeout=60
            )
            await asyncio.sleep(2.0)  # time for any duplicate to show
        finally:
            kit.send_signal(signal.SIGTERM)
            await asyncio.wait_for(kit.wait(), timeout=30)
    acks = [s.json()["payload"]["referral_id"] for s in w.matching("referral.responses")]
    assert acks.count(first_id) == 1 and acks.count(second_id) == 1
    delivered = [line["payload"]["referral_id"] for line in _referrals_handed_over(out)]
    assert first_id in delivered and second_id in delivered


def _referrals_handed_over(out) -> list[dict]:
    """The referrals (and their withdrawals) the kit wrote: the file holds consents' withdrawals too."""
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    return [line for line in lines if line["event_type"].startswith("referral.")]


async def test_a_regrade_moves_the_deadlines_of_referrals_not_yet_acknowledged(
    infra, services: RunningServices
) -> None:
    report = hotline_report(
        categories=["left_behind"],
        indicators=["left_behind", "out_of_school"],
        child={"birth_date": "2015-03-02"},
    )
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED, "referral.to.education"]) as w:
        kcat_produce(infra.kafka_bootstrap, report)
        reported, graded_orange = await graded(w, report["external_id"])
        case_id = reported.json()["case_id"]
        assert graded_orange.json()["payload"]["risk_level"] == "orange"
        (referral,) = await w.wait_for("referral.to.education", of_case(case_id))
        referral_id = referral.json()["payload"]["referral_id"]
        async with httpx.AsyncClient(base_url=services.urls["assessment"]) as http:
            answer = await http.post(
                f"/v1/cases/{case_id}/override",
                headers=token(Role.supervisor, "sup-2"),
                json={"risk_level": "red", "reason": "siblings_already_in_care"},
            )
            assert answer.status_code == 200, answer.text
        await w.wait_for(ASSESSED, of_case(case_id), count=2)
    async with httpx.AsyncClient(base_url=services.urls["referral"]) as http:
        for _ in range(100):
            seen = (await http.get(f"/v1/referrals/{referral_id}", headers=officer("education"))).json()
            if seen["risk_level"] == "red":
                break
            await asyncio.sleep(0.1)
        overdue_first = (
            await http.get("/v1/referrals", params={"state": "created"}, headers=officer("education"))
        ).json()
    created, due = datetime.fromisoformat(seen["created_at"]), datetime.fromisoformat(seen["ack_due_at"])
    assert seen["risk_level"] == "red" and due - created == timedelta(hours=24), (
        "red's 24 hours, from creation"
    )
    assert all(r["agency"] == "education" for r in overdue_first), "an agency lists only its own referrals"
    flags = [r["overdue"] for r in overdue_first]
    assert flags == sorted(flags, reverse=True), "overdue referrals come first"
