"""The referral service's definition: its consumers, HTTP API, routing table and the
escalation sweep."""

from __future__ import annotations

from functools import partial

from services.referral.action_items import escalate_overdue_action_items
from services.referral.api import cases_router, router
from services.referral.complaints import router as complaints_router
from services.referral.deliveries import escalate_overdue_services
from services.referral.handlers import ANSWERS, CLOSURES, GRADES, stage
from services.referral.lifecycle import IllegalTransition
from services.referral.meetings import router as meetings_router
from services.referral.provision_api import ROUTERS as SERVICE_ROUTERS
from services.referral.refer import (
    ForeignAnswer,
    Resources,
    escalate_overdue,
    move_cases,
    waiting_gauges,
)
from services.referral.routing import RoutingError, load_routes
from services.referral.settings import ReferralSettings
from shared.contracts.lanes import names_emergency
from shared.crypto import FieldCipher
from shared.errors import ConfigurationError
from shared.scheduling import periodic_work
from shared.service import Consumes, ServiceContext, ServiceDefinition
from shared.territory.transfers import transfers


def resources(settings: ReferralSettings) -> Resources:
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


# In batches, one consumer group a handler table, each batch decided in one pass over its cases
# (services/referral/decide.py).
CONSUMES = (
    # An emergency's grade is routed ahead of the crowd (shared/contracts/lanes.py); a grade the
    # ordinary lane reads after a newer one the urgent lane applied is older, and ignored (decide.route).
    Consumes("referral.assessed", partial(stage, GRADES), urgent=names_emergency),
    # An answer the lifecycle refuses, or one about another agency's referral, will never become
    # valid: the batch falls back to one answer at a time and that one is dead-lettered with the
    # reason at once.
    Consumes(
        "referral.responses", partial(stage, ANSWERS), poison=(IllegalTransition, ForeignAnswer, LookupError)
    ),
    # A closed case holds no open referral: what a late grade opened meanwhile is withdrawn, and what a
    # case merged away by a link held; a reopened case, or an undone link, is referred again.
    Consumes("referral.closures", partial(stage, CLOSURES)),
    # A case moved to another territory: its open referrals escalate up the new one's chain.
    transfers("referral", move_cases),
)


def tasks(ctx: ServiceContext):
    return [
        periodic_work(
            ctx,
            "referral.escalation",
            lambda work: escalate_overdue(work, ctx.resources),
            ctx.settings.sweep_interval_s,
        ),
        # A service of a plan still open past its due date moves up the territory the same way.
        periodic_work(
            ctx,
            "referral.service_escalation",
            lambda work: escalate_overdue_services(work, ctx.resources),
            ctx.settings.sweep_interval_s,
        ),
        # A joint meeting's action item still open after its day climbs the same way.
        periodic_work(
            ctx,
            "referral.action_item_escalation",
            lambda work: escalate_overdue_action_items(work, ctx.resources),
            ctx.settings.sweep_interval_s,
        ),
    ]


SERVICE = ServiceDefinition(
    name="referral",
    settings=ReferralSettings,
    summary="Routes graded cases to the agencies that must act and holds them to deadlines; "
    "tracks the services of each plan to delivery by providers under contract.",
    routers=(router, cases_router, *SERVICE_ROUTERS, complaints_router, meetings_router),
    consumes=CONSUMES,
    tasks=tasks,
    resources=resources,
    gauges=lambda ctx, session: waiting_gauges(session, ctx.resources),
)
