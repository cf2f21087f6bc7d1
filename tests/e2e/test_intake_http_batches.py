"""Concurrent `POST /v1/reports` share transactions (services/intake/submissions.py); on the real
intake, each request is still answered as if it had been alone: reports about one child join
one case, each counted once; a replayed Idempotency-Key is one report and a reused one is
refused; a bad report fails alone; and each report's event carries its own request's trace."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from shared.auth import Role
from tests.e2e.conftest import service_env, serving
from tests.e2e.reports import hotline_report, national_id, token
from tests.e2e.test_followup_batches import query

CASEWORKER = token(Role.caseworker, "caseworker-batches")
# A well-formed village code that is no node of config/territory.yaml.
NO_SUCH_VILLAGE = "140402001999"


@pytest.fixture(scope="module")
def intake(infra, tmp_path_factory) -> Iterator[str]:
    env = service_env(infra)
    with serving(["intake"], env, tmp_path_factory.mktemp("intake-logs")) as urls:
        yield urls["intake"]


async def _post_together(url: str, posts: list[tuple[dict, dict]]) -> list[httpx.Response]:
    """Every (body, headers) sent at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(posts))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        return await asyncio.gather(
            *(http.post("/v1/reports", json=body, headers=headers) for body, headers in posts)
        )


async def test_concurrent_reports_about_one_child_join_one_case_and_each_is_counted_once(
    infra, intake
) -> None:
    child = {"national_id": national_id()}
    about_the_child = [hotline_report(channel="school", child=child) for _ in range(12)]
    others = [hotline_report(channel="school") for _ in range(20)]
    answers = await _post_together(intake, [(body, CASEWORKER) for body in about_the_child + others])

    refused = [a.text for a in answers if a.status_code != 202]
    assert not refused, refused
    mine = [a.json() for a in answers[: len(about_the_child)]]
    assert len({a["case_id"] for a in mine}) == 1 and len({a["child_ref"] for a in mine}) == 1
    assert sorted(a["earlier_reports"] for a in mine) == list(range(len(about_the_child))), (
        "each report counts the ones recorded before it, none twice"
    )
    assert len({a["report_id"] for a in mine}) == len(about_the_child)
    assert {a["status"] for a in mine} == {"accepted"}
    stored = await query(
        infra.database_url,
        "SELECT count(*) FROM intake.reports WHERE case_id = :case",
        case=uuid.UUID(mine[0]["case_id"]),
    )
    assert stored[0][0] == len(about_the_child)
    other_cases = {a.json()["case_id"] for a in answers[len(about_the_child) :]}
    assert len(other_cases) == len(others) and mine[0]["case_id"] not in other_cases


async def test_a_key_replayed_at_once_is_one_report_and_a_key_reused_for_another_report_is_refused(
    infra, intake
) -> None:
    report = hotline_report(channel="hospital")
    replayed = {**CASEWORKER, "Idempotency-Key": f"replay-{uuid.uuid4().hex}"}
    reused = {**CASEWORKER, "Idempotency-Key": f"reused-{uuid.uuid4().hex}"}
    first_of_reused, second_of_reused = hotline_report(channel="hospital"), hotline_report(channel="hospital")
    filler = [(hotline_report(channel="hospital"), CASEWORKER) for _ in range(10)]
    answers = await _post_together(
        intake, [(report, replayed)] * 5 + [(first_of_reused, reused), (second_of_reused, reused)] + filler
    )

    replays = answers[:5]
    assert [a.status_code for a in replays] == [202] * 5
    assert len({a.json()["report_id"] for a in replays}) == 1, "one report, however often it was resent"
    assert Counter(a.json()["status"] for a in replays) == Counter(accepted=1, duplicate=4)
    assert (
        await query(
            infra.database_url,
            "SELECT count(*) FROM intake.reports WHERE external_id = :x",
            x=report["external_id"],
        )
    )[0][0] == 1

    both = answers[5:7]
    assert sorted(a.status_code for a in both) == [202, 409], [a.text for a in both]
    refused = both[0] if both[0].status_code == 409 else both[1]
    kept_body = second_of_reused if refused is both[0] else first_of_reused
    refused_body = first_of_reused if refused is both[0] else second_of_reused
    assert "Idempotency-Key" in refused.json()["detail"]
    stored = await query(
        infra.database_url,
        "SELECT external_id FROM intake.reports WHERE external_id IN (:a, :b)",
        a=kept_body["external_id"],
        b=refused_body["external_id"],
    )
    assert [row.external_id for row in stored] == [kept_body["external_id"]], (
        "the refused report is not stored"
    )
    assert [a.status_code for a in answers[7:]] == [202] * len(filler)


async def test_a_report_intake_cannot_accept_fails_alone_among_concurrent_ones(infra, intake) -> None:
    unknown_place = hotline_report(jurisdiction=NO_SUCH_VILLAGE)
    good = [hotline_report() for _ in range(15)]
    posts = [(unknown_place, CASEWORKER), *((body, CASEWORKER) for body in good)]
    answers = await _post_together(intake, posts)

    assert answers[0].status_code == 422
    assert [err["loc"] for err in answers[0].json()["detail"]] == [["body", "jurisdiction"]]
    assert [a.status_code for a in answers[1:]] == [202] * len(good)
    assert (
        await query(
            infra.database_url,
            "SELECT count(*) FROM intake.reports WHERE external_id = :x",
            x=unknown_place["external_id"],
        )
    )[0][0] == 0


async def test_each_reports_event_carries_the_trace_of_its_own_request(infra, intake) -> None:
    traces = [uuid.uuid4().hex for _ in range(16)]
    posts = [
        (hotline_report(), {**CASEWORKER, "traceparent": f"00-{trace}-{uuid.uuid4().hex[:16]}-01"})
        for trace in traces
    ]
    answers = await _post_together(intake, posts)

    assert [a.status_code for a in answers] == [202] * len(answers)
    report_ids = [a.json()["report_id"] for a in answers]
    staged = await query(
        infra.database_url,
        "SELECT payload, traceparent FROM intake.outbox "
        "WHERE event_type = 'case.reported' AND aggregate_id = ANY(:cases)",
        cases=[a.json()["case_id"] for a in answers],
    )
    trace_of_report = {
        json.loads(row.payload)["payload"]["report_id"]: row.traceparent.split("-")[1] for row in staged
    }
    assert [trace_of_report[report_id] for report_id in report_ids] == traces
