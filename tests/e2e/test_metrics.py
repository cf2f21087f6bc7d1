"""GET /metrics on every running service: what an operator on call watches — consumers'
outcomes, the outbox backlog, referrals waiting by grade, visits due, the ledger's length —
with no case or child identifier anywhere."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, token
from tests.e2e.test_intake_assessment import of_case
from tests.e2e.watch import TopicWatcher

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


async def test_every_service_exposes_its_backlog_and_late_work_without_identifiers(
    infra, services: RunningServices
) -> None:
    async with TopicWatcher(infra.kafka_bootstrap, ["referral.to.police", "followup.scheduled"]) as watcher:
        async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
            accepted = (
                await http.post(
                    "/v1/reports", json=hotline_report(), headers=token(Role.caseworker, "cw-metrics")
                )
            ).json()
        await watcher.wait_for("referral.to.police", of_case(accepted["case_id"]), timeout=60)
        await watcher.wait_for("followup.scheduled", of_case(accepted["case_id"]), timeout=60)

    scraped = {}
    async with httpx.AsyncClient() as http:
        for name, url in services.urls.items():
            answer = await http.get(f"{url}/metrics")
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
            assert not UUID.search(answer.text), f"{name} exposes an identifier"
            scraped[name] = samples(answer.text)

    for name, found in scraped.items():
        assert value(found, "cpnet_outbox_pending", service=name) >= 0
        assert value(found, "cpnet_outbox_oldest_pending_seconds", service=name) >= 0
    assessment = scraped["assessment"]
    # The report names immediate danger: whichever of the group's two lanes reached it first applied it.
    applied = [
        value(
            assessment,
            "cpnet_consumer_messages_total",
            service="assessment",
            consumer=consumer,
            outcome="applied",
        )
        for consumer in ("assessment.reported", "assessment.reported.urgent")
    ]
    assert sum(applied) >= 1
    assert value(scraped["intake"], "cpnet_relay_published_total", service="intake") >= 1
    assert value(assessment, "cpnet_consumer_lag", service="assessment", consumer="assessment.reported") >= 0
    assert (
        value(scraped["referral"], "cpnet_referrals_unacknowledged", service="referral", risk_level="red")
        >= 1
    )
    assert (
        "cpnet_referrals_overdue",
        frozenset({"service": "referral", "risk_level": "red"}.items()),
    ) in scraped["referral"]
    assert (
        "cpnet_visits_overdue",
        frozenset({"service": "followup", "risk_level": "red"}.items()),
    ) in scraped["followup"]
    assert value(scraped["audit"], "cpnet_ledger_entries", service="audit") >= 1
    assert value(scraped["audit"], "cpnet_ledger_unchecked_entries", service="audit") >= 0


async def test_the_late_work_gauges_count_a_red_referral_and_visit_once_their_deadlines_pass(
    infra, services: RunningServices
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy.ext.asyncio import create_async_engine

    from services.followup.schedule import load_policy
    from services.followup.visits import Resources as FollowupResources
    from services.followup.visits import overdue_gauges
    from services.referral.refer import Resources as ReferralResources
    from services.referral.refer import waiting_gauges
    from services.referral.routing import load_routes
    from shared.db.engine import make_session_factory

    async with TopicWatcher(infra.kafka_bootstrap, ["referral.to.police", "followup.scheduled"]) as watcher:
        async with httpx.AsyncClient(base_url=services.urls["intake"]) as http:
            accepted = (
                await http.post(
                    "/v1/reports", json=hotline_report(), headers=token(Role.caseworker, "cw-metrics")
                )
            ).json()
        await watcher.wait_for("referral.to.police", of_case(accepted["case_id"]), timeout=60)
        await watcher.wait_for("followup.scheduled", of_case(accepted["case_id"]), timeout=60)

    def red(gauges, name: str) -> float:
        return next(g.value for g in gauges if g.name == name and g.labels == {"risk_level": "red"})

    now = datetime.now(UTC)
    engine = create_async_engine(infra.database_url)
    try:
        async with make_session_factory(engine)() as session:
            referrals = [
                await waiting_gauges(
                    session, ReferralResources(load_routes(), "http://referral", clock=lambda m=m: m)
                )
                for m in (now, now + timedelta(hours=25))
            ]
            visits = [
                await overdue_gauges(session, FollowupResources(load_policy(), clock=lambda m=m: m))
                for m in (now, now + timedelta(days=3))
            ]
    finally:
        await engine.dispose()
    # A red referral must be acknowledged within 24 hours, a red case visited within a week.
    assert red(referrals[1], "cpnet_referrals_overdue") >= red(referrals[0], "cpnet_referrals_overdue") + 1
    assert red(visits[1], "cpnet_visits_due") >= red(visits[0], "cpnet_visits_due") + 1
