"""OpenTelemetry set-up in one place: the tracer provider, the Kafka middleware, and the
trace context that travels with outbox rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


class _RecordWhenListened(sampling.Sampler):
    """Records spans only while something receives them (an exporter or a test's processor), and
    then as the configured sampler says (OTEL_TRACES_SAMPLER; parent-based, always on, by default).

    With nobody listening, a recorded span is work for nothing: start times, attributes, links,
    the per-message publish and process spans of every batch — a fifth of a busy stage's CPU.
    Spans that are not recorded still carry trace and span ids, so context still propagates and
    log lines still name their trace."""

    def __init__(self) -> None:
        self.listened = False
        self._configured = sampling._get_from_env_or_default()  # noqa: SLF001 — the SDK's own env reading

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ) -> sampling.SamplingResult:
        if not self.listened:
            return sampling.SamplingResult(sampling.Decision.DROP)
        return self._configured.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RecordWhenListened{{{self._configured.get_description()}}}"


_SAMPLER = _RecordWhenListened()
# Proxies that follow the provider set_tracer_provider installs: the SDK makes a new Tracer on
# every get_tracer call, a cost a per-event span would pay for each event of a batch.
_CONSUMER_TRACER = trace.get_tracer("cpnet.consumer")
RELAY_TRACER = trace.get_tracer("cpnet.relay")


def listened() -> bool:
    """Whether spans are recorded: an exporter or a processor receives them."""
    return _SAMPLER.listened


def setup_tracing(
    service_name: str, *, otlp_endpoint: str | None = None, processors: tuple[SpanProcessor, ...] = ()
) -> TracerProvider:
    """Install the process's tracer provider once; later calls return the same provider.

    OpenTelemetry allows one global provider per process, so tests that need an in-memory
    exporter add their span processor to the provider returned here.
    """
    global _provider  # noqa: PLW0603
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service_name}), sampler=_SAMPLER)
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
            _SAMPLER.listened = True
        trace.set_tracer_provider(_provider)
    for processor in processors:
        _provider.add_span_processor(processor)
        _SAMPLER.listened = True
    return _provider


def telemetry_middleware(provider: TracerProvider):
    """FastStream's own middleware: consumer and publisher spans, context in Kafka headers."""
    from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware

    return KafkaTelemetryMiddleware(tracer_provider=provider)


def current_trace_headers() -> dict[str, str]:
    """The W3C trace context of the current span, as headers (empty outside any trace)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def stored_headers(traceparent: str | None, tracestate: str | None = None) -> dict[str, str]:
    """A stored trace context (e.g. an outbox row's) as headers; empty without one."""
    carrier = {"traceparent": traceparent} if traceparent else {}
    if traceparent and tracestate:
        carrier["tracestate"] = tracestate
    return carrier


def stored_context(traceparent: str | None, tracestate: str | None = None) -> otel_context.Context:
    """A stored trace context (e.g. an outbox row's), to start a span in; empty without one."""
    return _PROPAGATOR.extract(stored_headers(traceparent, tracestate))


def context_headers(span: trace.Span) -> dict[str, str]:
    """The W3C trace context of `span`, as headers, without making it the current span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier


@contextmanager
def event_span(delivery: Any) -> Iterator[None]:
    """One event of a batch processed inside its own trace: a consumer span, child of the
    `traceparent` the event travelled with. FastStream gives a batch one span of a new trace
    (linked to the events'), so without this a batched stage would cut each report's trace
    in two. `delivery` is a shared.messaging.consumer.Delivery (topic and headers)."""
    parent = _PROPAGATOR.extract(
        {k: v for k, v in delivery.headers.items() if k in ("traceparent", "tracestate")}
    )
    if not trace.get_current_span(parent).get_span_context().is_valid:
        yield  # an event from outside any trace stays outside (the batch's span is current)
        return
    if not listened():
        # Nobody would see the span: the event is handled in the context it came with, so what it
        # causes still carries its trace (with the producer's span as parent).
        token = otel_context.attach(parent)
        try:
            yield
        finally:
            otel_context.detach(token)
        return
    attributes = {
        "messaging.system": "kafka",
        "messaging.operation": "process",
        "messaging.destination_publish.name": delivery.topic,
    }
    with _CONSUMER_TRACER.start_as_current_span(
        f"{delivery.topic} process", context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
    ):
        yield


def traces_of(deliveries: Iterable[Any]) -> list[dict[str, str]]:
    """Each delivery's own trace headers (a span of its own, child of the producer's), for a
    batch handler to store with the events each one causes."""
    traces = []
    for delivery in deliveries:
        with event_span(delivery):
            traces.append(current_trace_headers())
    return traces


def trace_ids() -> dict[str, str]:
    """The current trace and span ids for log lines (empty outside any trace)."""
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return {}
    return {"trace_id": format(span.trace_id, "032x"), "span_id": format(span.span_id, "016x")}
