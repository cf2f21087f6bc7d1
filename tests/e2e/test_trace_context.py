"""Without a trace exporter the services record no spans, yet every event still carries the trace
of what caused it."""

from __future__ import annotations

from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report
from tests.e2e.test_intake_assessment import ASSESSED, REPORTED, by_external_id, kcat_produce, of_case
from tests.e2e.watch import Seen, TopicWatcher

JOURNEY = [REPORTED, ASSESSED, "referral.to.police", "followup.scheduled"]


async def report_journey(bootstrap: str, report: dict) -> list[Seen]:
    """A hotline report sent, and the events of its journey: stored, graded, referred to the "
    "police, planned."""
    async with TopicWatcher(bootstrap, JOURNEY) as watcher:
        kcat_produce(bootstrap, report)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(report["external_id"]), timeout=60)
        case_id = reported.json()["case_id"]
        return [
            reported,
            *[
                seen
                for topic in JOURNEY[1:]
                for seen in await watcher.wait_for(topic, of_case(case_id), timeout=60)
            ],
        ]


async def test_with_no_exporter_the_trace_context_still_travels_through_every_service(
    infra, services: RunningServices
) -> None:
    """The services of `services` export no spans (so they record none): each event still carries
    the trace its cause came with, so logs and a later exporter can follow a report."""
    journey = await report_journey(infra.kafka_bootstrap, hotline_report())
    assert [seen.topic for seen in journey] == JOURNEY
    trace_ids = {seen.headers["traceparent"].split("-")[1] for seen in journey}
    assert len(trace_ids) == 1, "one trace from the report to its visit plan"
