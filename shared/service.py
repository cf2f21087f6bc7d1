"""The one place a service is wired: database, broker, outbox relay, consumers and HTTP API
assembled from the service's definition, started and stopped together."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db.engine import make_engine, make_session_factory
from shared.db.tables import messaging_metadata
from shared.health import database_answers, require_database, require_kafka
from shared.http import (
    AUTHENTICATED_ANSWERS,
    BEARER,
    ServerSpans,
    StrictJSONBody,
    answers,
    install_error_handlers,
)
from shared.logging import configure_logging
from shared.messaging.broker import make_broker
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.relay import OutboxRelay
from shared.messaging.security import broker_security, client_security
from shared.metrics import CONTENT_TYPE, Gauge, ServiceMetrics, exposition
from shared.operations import docs_open, read_docs, read_metrics
from shared.outage import watch_recovery
from shared.ratelimit import AddressRateLimit, RateLimits, limit_writes
from shared.settings import Settings
from shared.telemetry import setup_tracing
from shared.token_keys import key_set
from shared.unit_of_work import (
    Stage,
    TableOutbox,
    UnexpectedEvent,
    UnitOfWork,
    UrgentOutbox,
    Work,
    committed,
)

log = structlog.get_logger(__name__)

# How long an idle client connection stays open: longer than clients keep theirs in a pool
# (httpx: 5 s, uvicorn's default too), so it is the client that closes first. With both at 5 s,
# a busy client that sends as the server closes gets a reset instead of an answer.
KEEP_ALIVE_S = 30
# How often the urgent lanes' relay looks for rows no commit of its process woke it for.
URGENT_RELAY_POLL_S = 0.25
# Operations' own routes: polled all day, they would bury the traces of work.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


R = TypeVar("R")  # a service's resources: its policy, keys, clock…


@dataclass
class ServiceContext(Generic[R]):
    """What a running service's routers and consumers are given."""

    name: str
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: KafkaBroker
    relay: OutboxRelay
    metadata: MetaData
    resources: R = None  # type: ignore[assignment] # what the definition's `resources` built at start-up
    # The urgent lanes' relay, in a process that runs them (settings.lanes): None elsewhere.
    urgent_relay: OutboxRelay | None = None

    @property
    def outbox(self) -> Table:
        return self.metadata.tables[f"{self.name}.outbox"]

    @property
    def processed(self) -> Table:
        return self.metadata.tables[f"{self.name}.processed_events"]

    def unit_of_work(
        self, *, connection: bool = False, wake: bool = True
    ) -> AbstractAsyncContextManager[Work]:
        """A route's or a sweep's transaction (a session's; a connection's with `connection`) and
        the unit of work its events are staged on: the events are written to the outbox before it
        commits, and the relay is woken once it has, if any was staged (unless `wake` is False: the
        caller wakes it when its answer is on its way). Whatever the body raises rolls it back, and
        nothing is woken."""
        begin = self.engine.begin if connection else self.sessions.begin
        uow = UnitOfWork(self.name, TableOutbox(self.outbox))
        return committed(begin, uow, self.relay.wake if wake else None)

    def consume(self, consumes: Consumes[R]) -> list[IdempotentConsumer]:
        """The consumers of one entry of the service's definition that this process runs (settings.lanes):
        its group, and the urgent lane ahead of it if the entry has one. The urgent lane's events go to
        the urgent relay (shared/messaging/outbox.py `add_urgent_events`)."""

        def read() -> R:
            return self.resources

        stage = consumes.stage(read)
        options = {"poison": consumes.poison, **consumes.options(read)}
        lanes = self.settings.lanes
        consumers = [] if lanes == "urgent" else [self.stage(consumes.group, stage, **options)]
        if consumes.urgent is not None and self.urgent_relay is not None:
            urgent = self.stage(
                consumes.group,
                dataclasses.replace(stage, outbox=UrgentOutbox(self.outbox)),
                group=f"{consumes.group}.urgent",
                keep=consumes.urgent,
                dead_letters=False,
                after_commit=self.urgent_relay.wake,
                **options,
            )
            consumers.insert(0, urgent)
        return consumers

    def stage(self, name: str, stage: Stage, **options) -> IdempotentConsumer:
        """A consumer of the topics of a stage's handler table, in batches, each batch one unit of
        work (shared/unit_of_work.py) in one transaction; an event no rule takes is dead-lettered."""
        poison = (UnexpectedEvent, *options.pop("poison", ()))
        return self.consumer(
            name=name,
            topic=stage.topics,
            handler=None,
            batch_handler=stage,
            batch=True,
            poison=poison,
            **options,
        )

    def consumer(self, *, name: str, topic: str | tuple[str, ...], handler, **options) -> IdempotentConsumer:
        """An idempotent consumer on this service's database, waking the relay after commits."""
        return IdempotentConsumer(
            name=name,
            topic=topic,
            handler=handler,
            session_factory=self.sessions,
            processed=self.processed,
            broker=self.broker,
            max_tries=self.settings.consumer_max_tries,
            **{"after_commit": self.relay.wake, **options},
        )


def _no_options(resources: Callable[[], Any]) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class Consumes(Generic[R]):
    """One consumer group of a service, declared: the stage its batches run through (its handler table,
    store and outbox: shared/unit_of_work.py), made once at start-up from a reader of the running
    service's resources; the exceptions that dead-letter an event at once; the consumer's other options
    (shared/messaging/consumer.py), given the same reader."""

    group: str
    stage: Callable[[Callable[[], R]], Stage]
    poison: tuple[type[BaseException], ...] = ()
    options: Callable[[Callable[[], R]], Mapping[str, Any]] = _no_options
    # A lane ahead of the group for the messages this says are urgent (judged on the bytes): a second
    # consumer group on the same topics (`<group>.urgent`) that skips every other message, so an
    # emergency is not read after the crowd ahead of it. Both lanes claim under the group's name:
    # whichever applies a message first applies it; the other skips it (exactly-once effect).
    urgent: Callable[[bytes], bool] | None = None


@dataclass(frozen=True)
class ServiceDefinition:
    """A service is its name, its HTTP routers and its consumers; the rest is shared."""

    name: str
    summary: str
    # Its own settings (services/<name>/settings.py), the common ones extended.
    settings: type[Settings] = Settings
    routers: tuple[APIRouter, ...] = ()
    # Long-running loops (schedulers), each given the stop event.
    tasks: Callable[[ServiceContext], list[Callable[[asyncio.Event], Awaitable[None]]]] | None = None
    # A database role with fewer rights than the login, taken on every connection.
    db_role: Callable[[Settings], str | None] | None = None
    # Built once at start-up from the settings (keys, rule sets…), so bad configuration
    # stops the service before it takes any work.
    resources: Callable[[Settings], Any] | None = None
    # Its consumer groups, each a handler table's stage: the topics it reads come from the tables.
    consumes: tuple[Consumes, ...] = ()
    # The service's own gauges of late work, read at each scrape of GET /metrics.
    gauges: Callable[[ServiceContext, AsyncSession], Awaitable[Iterable[Gauge]]] | None = None
    # Whether the relay deletes published outbox rows after CPNET_OUTBOX_RETENTION_DAYS and
    # de-duplication records after CPNET_PROCESSED_RETENTION_DAYS.
    purges_outbox: bool = True

    @property
    def topics(self) -> frozenset[str]:
        """Every topic the service reads, from its handler tables."""
        return frozenset(topic for c in self.consumes for topic in c.stage(lambda: None).topics)

    @property
    def has_lanes(self) -> bool:
        """Whether any consumer group of the service has an urgent lane."""
        return any(consumes.urgent is not None for consumes in self.consumes)

    def consumers(self, ctx: ServiceContext) -> list[IdempotentConsumer]:
        return [consumer for consumes in self.consumes for consumer in ctx.consume(consumes)]


async def service_context(request: Request) -> ServiceContext:
    """FastAPI dependency: the running service's context. Async, since FastAPI hands a plain
    function to a worker thread: a thread round trip on every request, for an attribute."""
    return request.app.state.ctx


def build_app(
    definition: ServiceDefinition, settings: Settings, *, tracer_provider: TracerProvider | None = None
) -> FastAPI:
    """The service's FastAPI app; its lifespan starts the broker, consumers and relay. `settings` are
    taken as the service's own kind (its own fields read from the environment if not given)."""
    settings = settings.of_kind(definition.settings)
    resources = definition.resources(settings) if definition.resources else None
    # The public keys tokens are verified with, read before any request: an unreadable JWKS
    # stops the service at start, not its first caller.
    key_set(settings.auth_jwks).load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url, role=definition.db_role(settings) if definition.db_role else None
        )
        broker = make_broker(
            settings.kafka_bootstrap,
            client_id=f"cpnet-{definition.name}",
            tracer_provider=tracer_provider,
            security=broker_security(settings),
        )
        metadata = messaging_metadata(definition.name)
        trim = definition.purges_outbox
        outbox = metadata.tables[f"{definition.name}.outbox"]
        relay = OutboxRelay(
            engine=engine,
            outbox=outbox,
            broker=broker,
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval_s,
            gather_s=settings.relay_gather_s,
            retention=timedelta(days=settings.outbox_retention_days) if trim else None,
            processed=metadata.tables[f"{definition.name}.processed_events"] if trim else None,
            processed_retention=timedelta(days=settings.processed_retention_days),
        )
        # The urgent lanes' relay publishes at once (no gathering); its poll only finds what another
        # process, or this one before a restart, staged.
        urgent_relay = (
            OutboxRelay(
                engine=engine,
                outbox=outbox,
                broker=broker,
                batch_size=settings.relay_batch_size,
                poll_interval=URGENT_RELAY_POLL_S,
                gather_s=0,
                urgent=True,
            )
            if definition.has_lanes and settings.lanes != "ordinary"
            else None
        )
        ctx = ServiceContext(
            definition.name,
            settings,
            engine,
            make_session_factory(engine),
            broker,
            relay,
            metadata,
            resources,
            urgent_relay,
        )
        app.state.ctx = ctx
        metrics.relay = urgent_relay if settings.lanes == "urgent" and urgent_relay else relay
        metrics.consumers = definition.consumers(ctx)
        for consumer in metrics.consumers:
            consumer.subscribe()
        await broker.start()
        stop = asyncio.Event()
        ordinary = settings.lanes != "urgent"  # a process of urgent lanes alone runs no sweeps
        relays = [(relay, "outbox-relay")] if ordinary else []
        if urgent_relay is not None:
            relays.append((urgent_relay, "urgent-relay"))
        loops = [asyncio.create_task(r.run(stop), name=f"{definition.name}-{name}") for r, name in relays]
        loops += [
            asyncio.create_task(loop(stop))
            for loop in (definition.tasks(ctx) if definition.tasks and ordinary else [])
        ]
        # While Kafka or the database is out, a probe says when it is back (shared.outage).
        loops.append(
            asyncio.create_task(watch_recovery(engine, broker, stop), name=f"{definition.name}-outage-watch")
        )
        log.info("service started", service=definition.name)
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*loops)
            await broker.stop()
            await engine.dispose()
            log.info("service stopped", service=definition.name)

    metrics = ServiceMetrics(definition.name)
    # Every body is bounded (413 on a declared or streamed size past the limit) before it is
    # read whole; routes may allow less. FastAPI's own telemetry is off: ServerSpans is the one
    # server span (FastAPI's would add query strings, exception messages in logs and a span per
    # dependency to every request).
    # Production serves the API's documents to a bearer of a valid token only (shared/operations.py),
    # unless configured open: FastAPI's own routes are then off and ours, guarded, take their place.
    documents = {} if docs_open(settings) else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(
        title=f"cpnet {definition.name}",
        summary=definition.summary,
        lifespan=lifespan,
        max_body_size=settings.http_max_body_bytes,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        **documents,
    )
    app.state.settings = settings
    app.state.rate_limits = RateLimits.from_settings(settings)
    app.add_middleware(StrictJSONBody)
    app.add_middleware(AddressRateLimit, limiter=app.state.rate_limits.per_address)
    if tracer_provider is not None:
        # Outermost: the span covers the rate limit's and the body checks' answers too.
        app.add_middleware(ServerSpans, tracer_provider=tracer_provider, excluded=UNTRACED_PATHS)
    install_error_handlers(app)
    for router in definition.routers:
        # Every route of a service's API is authenticated (the bearer scheme, declared), and
        # every write of it is rate-limited per principal.
        app.include_router(
            router, dependencies=[Security(BEARER), Depends(limit_writes)], responses=AUTHENTICATED_ANSWERS
        )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok", "service": definition.name}

    if not docs_open(settings):

        @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(read_docs)])
        async def openapi_document() -> JSONResponse:
            return JSONResponse(app.openapi())

        @app.get("/docs", include_in_schema=False, dependencies=[Depends(read_docs)])
        async def swagger_page() -> Response:
            return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        dependencies=[Depends(read_metrics)],
        responses={
            200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"},
            **answers(
                401,
                403,
                described={
                    401: "in production: no operator's token, nor the scrape token (CPNET_METRICS_TOKEN)",
                    403: "in production: a token of another role than operator",
                },
            ),
        },
    )
    async def metrics_endpoint() -> Response:
        """Counts for the operators on call: consumers' outcomes, the outbox's backlog and the
        service's late work. No case or child identifier is ever a label."""
        ctx: ServiceContext = app.state.ctx
        async with ctx.sessions() as session:
            gauges = await definition.gauges(ctx, session) if definition.gauges else ()
            await metrics.refresh(session, ctx.outbox, gauges)
        return Response(exposition(metrics), media_type=CONTENT_TYPE)

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Ready: this service's database and Kafka both answer."""
        ctx: ServiceContext = app.state.ctx
        checks = {
            "database": await database_answers(ctx.engine),
            "kafka": await ctx.broker.ping(timeout=3.0),
        }
        ready = all(checks.values())
        body = {
            "status": "ready" if ready else "not ready",
            "service": definition.name,
            "checks": {k: "ok" if v else "unreachable" for k, v in checks.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    return app


# Objects allocated before the young generation is collected, and young (then middle) collections
# before the next older one. Python's defaults (700, 10, 10) made a stage that decides 500 events a
# batch collect every few events, each pass walking the batch's live rows: these took 15-20 % off
# every service's CPU a report (docs/PERFORMANCE.md) for ~10-20 MiB more RSS.
GC_THRESHOLDS = (20_000, 50, 100)


def tune_garbage_collector() -> None:
    """Once the service is built: what start-up made (modules, models, compiled statements)
    lives as long as the process, so it is frozen out of every later collection, and every
    generation is collected less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_service(definition: ServiceDefinition, settings: Settings, *, port: int | None = None) -> None:
    """Run one service in the foreground until interrupted."""
    import uvicorn

    # Checked before logging is configured: an unreachable server is one line from the CLI,
    # not also the Kafka client's own connection warnings.
    asyncio.run(require_database(settings.database_url))
    asyncio.run(require_kafka(settings.kafka_bootstrap, security=client_security(settings)))
    settings = settings.of_kind(definition.settings)
    if settings.nice:
        os.nice(settings.nice)
    name = definition.name
    configure_logging(service=name, log_format=settings.log_format, level=settings.log_level)
    provider = setup_tracing(f"cpnet-{name}", otlp_endpoint=settings.otlp_endpoint)
    app = build_app(definition, settings, tracer_provider=provider)
    tune_garbage_collector()
    # uvloop and httptools: C loop and parser, the pure-Python ones cost each request more. One
    # process per service: it also runs the service's consumers and relay, and a second worker
    # would double the memory and the consumer-group members for two cores already shared.
    uvicorn.run(
        app,
        host=settings.http_host,
        port=port or settings.port_of(name),
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_keep_alive=KEEP_ALIVE_S,
    )
