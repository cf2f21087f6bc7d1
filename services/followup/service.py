"""The follow-up service's definition: its consumers, HTTP API, policy and the visit sweep."""

from __future__ import annotations

from services.followup.api import router
from services.followup.schedule import PolicyError, load_policy
from services.followup.visits import Resources, announce_due_visits, on_case_assessed, on_referral_status, \
    overdue_gauges
from shared.contracts.events import CaseAssessed, ReferralStatusChanged
from shared.errors import ConfigurationError
from shared.messaging.consumer import IdempotentConsumer
from shared.scheduling import periodic
from shared.service import ServiceContext, ServiceDefinition
from shared.settings import Settings


def resources(settings: Settings) -> Resources:
    try:
        return Resources(policy=load_policy())
    except PolicyError as exc:
        raise ConfigurationError(str(exc)) from None


def consumers(ctx: ServiceContext) -> list[IdempotentConsumer]:
    async def assessed(session, event, delivery) -> None:
        await on_case_assessed(session, event, ctx.resources)

    async def referral_changed(session, event, delivery) -> None:
        await on_referral_status(session, event, ctx.resources)

    return [
        ctx.consumer(name="followup.assessed", topic=CaseAssessed.TOPIC, handler=assessed, batch=True),
        ctx.consumer(name="followup.referrals", topic=ReferralStatusChanged.TOPIC, handler=referral_changed,
                     batch=True),
    ]


def tasks(ctx: ServiceContext):
    return [periodic(ctx, "followup.due_visits", lambda session: announce_due_visits(session, ctx.resources),
                     ctx.settings.sweep_interval_s)]


SERVICE = ServiceDefinition(
    name="followup",
    summary="Schedules and records follow-up visits until the child is safe; closes cases.",
    routers=(router,),
    consumers=consumers,
    tasks=tasks,
    resources=resources,
    gauges=lambda ctx, session: overdue_gauges(session, ctx.resources),
)
