"""Tests of the server span every request gets (shared.http.ServerSpans): it continues the
caller's trace, is named by the route template rather than the path with its ids, records the
method, route and status only, leaves probes untraced, and marks a failure by its type alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.http import ServerSpans

SECRET = "Wang Xiaoming 110101201605010012"


@pytest.fixture
def traced() -> Iterator[tuple[FastAPI, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI()

    @app.get("/v1/cases/{case_id}")
    async def case(case_id: uuid.UUID) -> dict[str, str]:
        return {"case_id": str(case_id)}

    @app.get("/v1/broken")
    async def broken() -> None:
        raise RuntimeError(SECRET)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(ServerSpans, tracer_provider=provider, excluded=frozenset({"/healthz"}))
    yield app, exporter


async def _get(app: FastAPI, path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        return await http.get(path, headers={"authorization": "Bearer not-to-be-recorded", **headers})


async def test_a_request_continues_the_callers_trace_in_one_span_named_by_its_route(traced) -> None:
    app, exporter = traced
    trace_id = uuid.uuid4().hex
    case_id = uuid.uuid4()
    answer = await _get(
        app, f"/v1/cases/{case_id}?purpose=casework", traceparent=f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    )

    assert answer.status_code == 200
    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.SERVER and span.name == "GET /v1/cases/{case_id}"
    assert format(span.context.trace_id, "032x") == trace_id
    assert dict(span.attributes) == {
        "http.request.method": "GET",
        "http.route": "/v1/cases/{case_id}",
        "http.response.status_code": 200,
    }
    assert str(case_id) not in repr(dict(span.attributes)), "the path's ids stay out"


async def test_probes_are_not_traced_and_an_unknown_path_is_named_by_its_method(traced) -> None:
    app, exporter = traced
    await _get(app, "/healthz")
    await _get(app, "/nowhere")

    (span,) = exporter.get_finished_spans()
    assert span.name == "GET" and span.attributes["http.response.status_code"] == 404


async def test_a_failure_is_marked_by_its_type_never_its_message(traced) -> None:
    app, exporter = traced
    answer = await _get(app, "/v1/broken")

    assert answer.status_code == 500
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR and span.status.description == "RuntimeError"
    assert SECRET not in repr([dict(span.attributes), span.events, span.status.description])
