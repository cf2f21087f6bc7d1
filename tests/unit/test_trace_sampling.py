"""Spans are recorded only while something receives them; unrecorded ones still carry the trace."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.telemetry import _RecordWhenListened, context_headers, stored_context


def test_with_nobody_listening_spans_are_not_recorded_but_the_trace_still_travels() -> None:
    sampler = _RecordWhenListened()
    tracer = TracerProvider(sampler=sampler).get_tracer("t")
    upstream = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    span = tracer.start_span("case.reported process", context=stored_context(upstream))
    assert not span.is_recording()
    assert format(span.get_span_context().trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert context_headers(span)["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")


def test_once_a_processor_listens_spans_are_recorded_and_exported() -> None:
    sampler = _RecordWhenListened()
    provider = TracerProvider(sampler=sampler)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sampler.listened = True
    with provider.get_tracer("t").start_as_current_span("case.assessed publish") as span:
        assert span.is_recording()
    assert [s.name for s in exporter.get_finished_spans()] == ["case.assessed publish"]
