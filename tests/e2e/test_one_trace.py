"""One report's whole journey — intake, assessment, referral, follow-up — is one trace.

The four services run in this process (each its own app, broker, consumers and relay, as
`cpnet serve` builds them) so that an in-memory span exporter sees every span, while
every message still crosses the real broker and every state change the real database.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack

import httpx
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cpnet.registry import definition_of, upgrade
from shared.auth import Role
from shared.service import build_app
from shared.settings import Settings
from shared.telemetry import setup_tracing
from tests.e2e.reports import hotline_report, token
from tests.e2e.test_intake_assessment import ASSESSED, REPORTED, of_case
from tests.e2e.test_trace_context import report_journey
from tests.e2e.watch import TopicWatcher

SERVICES = ("intake", "assessment", "referral", "followup")


async def test_one_report_is_one_trace_across_all_four_services(infra) -> None:
    exporter = InMemorySpanExporter()
    provider = setup_tracing("cpnet-e2e", processors=(SimpleSpanProcessor(exporter),))
    settings = Settings(kafka_bootstrap=infra.kafka_bootstrap, database_url=infra.database_url)
    for name in SERVICES:
        await asyncio.to_thread(upgrade, name, infra.database_url)
    report = hotline_report()
    async with AsyncExitStack() as running:
        for name in SERVICES:
            app = build_app(definition_of(name), settings, tracer_provider=provider)
            await running.enter_async_context(app.router.lifespan_context(app))
        journey = await report_journey(infra.kafka_bootstrap, report)
        trace_ids = {seen.headers["traceparent"].split("-")[1] for seen in journey}
        assert len(trace_ids) == 1, f"the journey's events carry {len(trace_ids)} traces"
        (trace_id,) = trace_ids
        # Intake follows referral.to.police after the watcher saw it: wait (while the services
        # still run) until its consumer span has finished, or give up after a while.
        for _ in range(100):
            spans = [
                s for s in exporter.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id
            ]
            if any(
                s.kind.name == "CONSUMER"
                and s.attributes.get("messaging.destination_publish.name") == "referral.to.police"
                for s in spans
            ):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # let the last consumers finish their spans
        spans = [s for s in exporter.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id]

    processed = sorted(
        s.attributes["messaging.destination_publish.name"]
        for s in spans
        if s.kind.name == "CONSUMER" and s.name.endswith(" process")
    )
    published = {
        s.attributes["messaging.destination.name"]
        for s in spans
        if s.kind.name == "PRODUCER" and s.name.endswith(" publish")
    }
    # intake consumed the hotline report, assessment the report, referral and follow-up
    # each the grade: four services' consumer spans, each inside the one trace...
    journey_steps = ["case.assessed", "case.assessed", "case.reported", "intake.reports.raw"]
    assert [topic for topic in processed if not topic.startswith("referral.")] == journey_steps, processed
    # ...and intake, following the referrals (who may read the child's details), each inside it too.
    followed = {topic for topic in processed if topic.startswith("referral.")}
    assert "referral.to.police" in followed and all(t.startswith("referral.to.") for t in followed), processed
    # ...and each service's relay published its events inside it too.
    assert {"case.reported", "case.assessed", "referral.to.police", "followup.scheduled"} <= published, (
        published
    )


async def test_a_report_over_http_continues_the_callers_trace_through_the_services(infra) -> None:
    """A school's system sends its own `traceparent`: intake's server span, the events the
    request staged, and the grade they caused all belong to that trace."""
    exporter = InMemorySpanExporter()
    provider = setup_tracing("cpnet-e2e", processors=(SimpleSpanProcessor(exporter),))
    settings = Settings(kafka_bootstrap=infra.kafka_bootstrap, database_url=infra.database_url)
    for name in ("intake", "assessment"):
        await asyncio.to_thread(upgrade, name, infra.database_url)
    callers_trace = uuid.uuid4().hex
    traceparent = f"00-{callers_trace}-{uuid.uuid4().hex[:16]}-01"
    async with AsyncExitStack() as running:
        apps = {}
        for name in ("intake", "assessment"):
            apps[name] = build_app(definition_of(name), settings, tracer_provider=provider)
            await running.enter_async_context(apps[name].router.lifespan_context(apps[name]))
        report = hotline_report(channel="school")
        async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED]) as watcher:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(apps["intake"]), base_url="http://intake"
            ) as http:
                accepted = await http.post(
                    "/v1/reports",
                    json=report,
                    headers={**token(Role.caseworker, "cw-trace"), "traceparent": traceparent},
                )
            assert accepted.status_code == 202, accepted.text
            case_id = accepted.json()["case_id"]
            journey = [
                *await watcher.wait_for(REPORTED, of_case(case_id), timeout=60),
                *await watcher.wait_for(ASSESSED, of_case(case_id), timeout=60),
            ]
        await asyncio.sleep(0.5)

    assert {seen.headers["traceparent"].split("-")[1] for seen in journey} == {callers_trace}
    server = [
        s
        for s in exporter.get_finished_spans()
        if s.kind.name == "SERVER" and format(s.context.trace_id, "032x") == callers_trace
    ]
    assert [s.name for s in server] == ["POST /v1/reports"]
    assert not any("authorization" in key.lower() for s in server for key in s.attributes), "no credentials"
    in_trace = [
        s for s in exporter.get_finished_spans() if format(s.context.trace_id, "032x") == callers_trace
    ]
    recorded = repr([dict(s.attributes) for s in in_trace])
    for secret in (
        report["child"]["name"],
        report["child"]["national_id"],
        report["narrative"],
        report["reporter"]["phone"],
    ):
        assert secret not in recorded, "no personal data in any span"
