"""Rate limits, body limits and strict JSON bodies: the token bucket on a hand-moved clock, and
a real service app (no database needed: every refusal here comes before a route touches one)."""

from __future__ import annotations

import httpx
import pytest

from cpnet.registry import definition_of
from shared.auth import Role, issue_token
from shared.http import field_errors
from shared.ratelimit import Rate, RateLimiter
from shared.service import build_app
from shared.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_one_request_per_refill_and_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(3, seconds=60), clock=clock)
    assert [limiter.take("school-1") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("school-1") == pytest.approx(20.0), "a token every 20 s"
    clock.now += 10
    assert limiter.take("school-1") == pytest.approx(10.0), "refused requests spend nothing"
    clock.now += 10
    assert limiter.take("school-1") == 0
    assert limiter.take("school-1") > 0


def test_callers_have_their_own_buckets_and_an_idle_one_fills_up_to_its_size_only() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(2, seconds=1), clock=clock)
    assert limiter.take("a") == 0 and limiter.take("a") == 0 and limiter.take("a") > 0
    assert limiter.take("b") == 0, "one caller's flood does not spend another's tokens"
    clock.now += 3600
    assert [limiter.take("a") == 0 for _ in range(3)] == [True, True, False]


def test_the_number_of_callers_remembered_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1), clock=clock, max_tracked=100)
    for caller in range(10_000):
        limiter.take(caller)
    assert len(limiter._buckets) == 100
    assert limiter.take(9_999) > 0, "the most recent callers are the ones kept"


def test_a_rate_needs_requests_and_time() -> None:
    with pytest.raises(ValueError):
        Rate(0)
    with pytest.raises(ValueError):
        Rate(5, seconds=0)


def bearer(role: Role, subject: str, jurisdiction: str = "1404") -> dict[str, str]:
    return {
        "Authorization": "Bearer "
        + issue_token(Settings(), subject=subject, role=role, jurisdiction=jurisdiction)
    }


def client(service: str, **settings) -> httpx.AsyncClient:
    app = build_app(definition_of(service), Settings(**settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=f"http://{service}")


async def test_a_principal_past_its_write_limit_gets_429_with_retry_after_and_others_are_unaffected() -> None:
    async with client("assessment", rate_limit_writes_per_minute=3) as http:
        # An auditor may not override a grade: each attempt is a 403 that still spends a token.
        override = "/v1/cases/00000000-0000-0000-0000-000000000001/override"
        attempts = [
            await http.post(override, json={}, headers=bearer(Role.auditor, "auditor-1")) for _ in range(5)
        ]
        other = await http.post(override, json={}, headers=bearer(Role.auditor, "auditor-2"))
        reads = [
            await http.get(
                "/v1/cases/00000000-0000-0000-0000-000000000001/assessment",
                headers=bearer(Role.reporter, "auditor-1"),
            )
            for _ in range(5)
        ]
        health = await http.get("/healthz")
    assert [a.status_code for a in attempts] == [403, 403, 403, 429, 429]
    assert int(attempts[-1].headers["Retry-After"]) >= 1
    assert other.status_code == 403, "another principal still has its own writes"
    assert {r.status_code for r in reads} == {403}, "reads are not writes"
    assert health.status_code == 200


async def test_an_address_past_its_limit_gets_429_before_any_token_is_read_but_probes_still_answer() -> None:
    async with client("referral", rate_limit_address_per_minute=5) as http:
        answers = [await http.get("/v1/referrals") for _ in range(7)]
        probe = await http.get("/healthz")
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 2
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert probe.status_code == 200


async def test_personal_data_reads_have_their_own_smaller_limit() -> None:
    async with client("intake", rate_limit_personal_reads_per_minute=2) as http:
        child = "/v1/cases/00000000-0000-0000-0000-000000000001/child"
        # A reporter may not read a child: 403, yet each attempt counts.
        reads = [
            await http.get(child, params={"purpose": "assessment"}, headers=bearer(Role.reporter, "school-1"))
            for _ in range(3)
        ]
    assert [r.status_code for r in reads] == [403, 403, 429]


async def test_a_body_over_the_limit_is_refused_whether_declared_or_streamed() -> None:
    visit = "/v1/cases/00000000-0000-0000-0000-000000000001/visits"
    headers = {**bearer(Role.caseworker, "cw-1"), "Content-Type": "application/json"}
    async with client("followup", http_max_body_bytes=64 * 1024) as http:
        declared = await http.post(visit, content=b"{" + b" " * 64 * 1024 + b"}", headers=headers)

        async def endless():
            for _ in range(1000):  # 16 MB, were it all read
                yield b" " * 16384

        streamed = await http.post(visit, content=endless(), headers=headers)
    assert declared.status_code == 413
    assert streamed.status_code == 413 and "content-length" not in {
        k.lower() for k in streamed.request.headers
    }


async def test_duplicate_keys_and_other_unacceptable_json_are_refused_before_any_route() -> None:
    async with client("followup") as http:
        visit = "/v1/cases/00000000-0000-0000-0000-000000000001/visits"
        headers = {**bearer(Role.caseworker, "cw-1"), "Content-Type": "application/json"}
        duplicate = await http.post(
            visit,
            content=b'{"visited_at": "2026-01-01T00:00:00Z", "visited_at": "2026-02-01T00:00:00Z"}',
            headers=headers,
        )
        deep = await http.post(visit, content=b"[" * 5000 + b"]" * 5000, headers=headers)
        huge = await http.post(visit, content=b'{"n": ' + b"9" * 5000 + b"}", headers=headers)
    for refused in (duplicate, deep, huge):
        assert refused.status_code == 422
        (problem,) = refused.json()["detail"]
        assert problem["loc"] == ["body"] and problem["type"] == "json_invalid"
    assert "duplicate key" in duplicate.json()["detail"][0]["msg"]
    assert "2026" not in duplicate.text and "9999" not in huge.text, "values are never echoed"


def test_an_unknown_key_is_named_by_where_it_was_found_not_by_itself() -> None:
    from pydantic import ValidationError

    from shared.contracts.hotline import Reporter

    with pytest.raises(ValidationError) as caught:
        Reporter.model_validate_json(b'{"role": "school", "anonymous": true, "id_of_zhang_wei": 1}')
    (problem,) = field_errors(caught.value.errors(include_input=False), prefix=("body", "reporter"))
    assert problem == {
        "loc": ["body", "reporter"],
        "msg": "unknown field not allowed",
        "type": "extra_forbidden",
    }
