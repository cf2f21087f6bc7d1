"""The referral service's definition: its consumers, HTTP API, routing table and the
escalation sweep."""

from __future__ import annotations

from services.referral.api import cases_router, router
from services.referral.handlers import ANSWERS, CLOSURES, GRADES, stage
from services.referral.lifecycle import IllegalTransition
from services.referral.refer import (
    ForeignAnswer,
    Resources,
    escalate_overdue,
    move_cases,
    waiting_gauges,
)
from services.referral.routing import RoutingError, load_routes
from shared.crypto import FieldCipher
from shared.errors import ConfigurationError
from shared.messaging.consumer import IdempotentConsumer
from shared.scheduling import periodic_work
from shared.service import ServiceContext, ServiceDefinition
from shared.settings import Settings
from shared.territory.transfers import transfers_consumer


def resources(settings: Settings) -> Resources:
    try:
        routes = load_routes()
    except RoutingError as exc:
        raise ConfigurationError(str(exc)) from None
    public = settings.referral_public_url or f"http://{settings.http_host}:{settings.referral_port}"
    intake = settings.intake_public_url or f"http://{settings.http_host}:{settings.intake_port}"
    return Resources(
        routes=routes,
        public_url=public.rstrip("/"),
        intake_url=intake.rstrip("/"),
        cipher=FieldCipher.from_settings(settings),
    )


def consumers(ctx: ServiceContext) -> list[IdempotentConsumer]:
    """In batches, one consumer group a handler table, each batch decided in one pass over its cases
    (services/referral/decide.py)."""
    return [
        ctx.stage("referral.assessed", stage(GRADES, lambda: ctx.resources)),
        # An answer the lifecycle refuses, or one about another agency's referral, will
        # never become valid: the batch falls back to one answer at a time and that one is
        # dead-lettered with the reason at once.
        ctx.stage(
            "referral.responses",
            stage(ANSWERS, lambda: ctx.resources),
            poison=(IllegalTransition, ForeignAnswer, LookupError),
        ),
        # A closed case holds no open referral: what a late grade opened meanwhile is withdrawn, and
        # what a case merged away by a link held; a reopened case, or an undone link, is referred again.
        ctx.stage("referral.closures", stage(CLOSURES, lambda: ctx.resources)),
        # A case moved to another territory: its open referrals escalate up the new one's chain.
        transfers_consumer(ctx, "referral", move_cases),
    ]


def tasks(ctx: ServiceContext):
    return [
        periodic_work(
            ctx,
            "referral.escalation",
            lambda work: escalate_overdue(work, ctx.resources),
            ctx.settings.sweep_interval_s,
        )
    ]


SERVICE = ServiceDefinition(
    name="referral",
    summary="Routes graded cases to the agencies that must act and holds them to deadlines.",
    routers=(router, cases_router),
    consumers=consumers,
    tasks=tasks,
    resources=resources,
    gauges=lambda ctx, session: waiting_gauges(session, ctx.resources),
)
