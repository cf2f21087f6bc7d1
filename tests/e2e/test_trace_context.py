"""Without a trace exporter the services record no spans, yet every event still carries the trace
of what caused it."""

from __future__ import annotations

from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report
from tests.e2e.test_intake_assessment import ASSESSED, REPORTED, by_external_id, kcat_produce, of_case
from tests.e2e.watch import TopicWatcher


async def test_with_no_exporter_the_trace_context_still_travels_through_every_service(
        infra, services: RunningServices) -> None:
    """The services of `services` export no spans (so they record none): each event still carries
    the trace its cause came with, so logs and a later exporter can follow a report."""
    report = hotline_report()
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED, "referral.to.police",
                                                    "followup.scheduled"]) as watcher:
        kcat_produce(infra.kafka_bootstrap, report)
        (reported,) = await watcher.wait_for(REPORTED, by_external_id(report["external_id"]), timeout=60)
        case_id = reported.json()["case_id"]
        journey = [reported, *await watcher.wait_for(ASSESSED, of_case(case_id), timeout=60),
                   *await watcher.wait_for("referral.to.police", of_case(case_id), timeout=60),
                   *await watcher.wait_for("followup.scheduled", of_case(case_id), timeout=60)]
    parents = [seen.headers["traceparent"].split("-") for seen in journey]
    assert len({trace_id for _, trace_id, _, _ in parents}) == 1, "one trace from the report to its visit plan"
