"""GET /metrics of every service, in Prometheus' text format, for the operators on call:
what each consumer received, applied, skipped as a duplicate and dead-lettered, and how far
behind it is; what the outbox still has to publish and how long the oldest has waited; and
each service's own gauges of work that is late (unacknowledged referrals, overdue visits).
Counts only: no identifier of a case or a child is ever a label."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Gauge:
    """One value a service reports about its own work, e.g. referrals overdue by grade."""

    name: str
    help: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


class ServiceMetrics(Collector):
    """Collects at scrape time from the running service's consumers, relay and database."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.consumers: list = []  # IdempotentConsumer, each with its `stats` counter
        self.relay = None
        self._gauges: list[Gauge] = []

    async def refresh(self, session: AsyncSession, outbox, service_gauges: Iterable[Gauge] = ()) -> None:
        """Read the database's and the consumers' side before a scrape (the collector itself
        cannot await)."""
        o = outbox.c
        pending, oldest = (
            await session.execute(
                select(
                    func.count(), func.coalesce(func.extract("epoch", func.now() - func.min(o.created_at)), 0)
                ).where(o.published_at.is_(None))
            )
        ).one()
        gauges = [
            Gauge("cpnet_outbox_pending", "Events committed but not yet published", pending),
            Gauge(
                "cpnet_outbox_oldest_pending_seconds", "Age of the oldest unpublished event", float(oldest)
            ),
        ]
        for consumer in self.consumers:
            lag = await consumer.lag()
            if lag is not None:
                gauges.append(
                    Gauge(
                        "cpnet_consumer_lag",
                        "Records on this process's partitions not yet handled",
                        lag,
                        {"consumer": consumer.label},
                    )
                )
        self._gauges = [*gauges, *service_gauges]

    def collect(self) -> Iterator:
        messages = CounterMetricFamily(
            "cpnet_consumer_messages",
            "Messages by consumer and outcome",
            labels=["service", "consumer", "outcome"],
        )
        for consumer in self.consumers:
            for outcome in (
                "received",
                "applied",
                "duplicates",
                "dead_lettered",
                "isolated",
                "left_to_other_lane",
            ):
                messages.add_metric([self.service, consumer.label, outcome], consumer.stats[outcome])
        yield messages
        if self.relay is not None:
            published = CounterMetricFamily(
                "cpnet_relay_published", "Events this process's relay published", labels=["service"]
            )
            published.add_metric([self.service], self.relay.published)
            yield published
            rounds = CounterMetricFamily(
                "cpnet_relay_rounds", "Batches this process's relay published", labels=["service"]
            )
            rounds.add_metric([self.service], self.relay.rounds)
            yield rounds
        families: dict[str, GaugeMetricFamily] = {}
        for gauge in self._gauges:
            labels = ["service", *gauge.labels]
            family = families.setdefault(gauge.name, GaugeMetricFamily(gauge.name, gauge.help, labels=labels))
            family.add_metric([self.service, *gauge.labels.values()], gauge.value)
        yield from families.values()


def exposition(metrics: ServiceMetrics) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    return generate_latest(registry)
