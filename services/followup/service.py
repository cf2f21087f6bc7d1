"""The follow-up service's definition: its consumers, HTTP API, policy and the visit sweep."""

from __future__ import annotations

from functools import partial

from services.followup import tables as t
from services.followup.api import router
from services.followup.decide import UnexpectedEvent
from services.followup.handlers import CLOSURES, GRADES, REFERRALS, stage
from services.followup.schedule import PolicyError, load_policy
from services.followup.visits import Resources, announce_due_visits, overdue_gauges
from shared.crypto import FieldCipher
from shared.errors import ConfigurationError
from shared.scheduling import periodic_work
from shared.service import Consumes, ServiceContext, ServiceDefinition
from shared.settings import Settings
from shared.territory.transfers import follow, transfers


def resources(settings: Settings) -> Resources:
    try:
        return Resources(policy=load_policy(), cipher=FieldCipher.from_settings(settings))
    except PolicyError as exc:
        raise ConfigurationError(str(exc)) from None


# In batches, one consumer group a handler table: a batch is decided in one pass over its plans.
CONSUMES = (
    Consumes("followup.assessed", partial(stage, GRADES), poison=(UnexpectedEvent,)),
    Consumes("followup.referrals", partial(stage, REFERRALS), poison=(UnexpectedEvent,)),
    Consumes("followup.closures", partial(stage, CLOSURES), poison=(UnexpectedEvent,)),
    # A case moved to another territory: its visits are the new territory's to make.
    transfers("followup", lambda session, moves: follow(session, t.plans, moves)),
)


def tasks(ctx: ServiceContext):
    return [
        periodic_work(
            ctx,
            "followup.due_visits",
            lambda work: announce_due_visits(work, ctx.resources),
            ctx.settings.sweep_interval_s,
        )
    ]


SERVICE = ServiceDefinition(
    name="followup",
    summary="Schedules and records follow-up visits until the child is safe; says when a case may close.",
    routers=(router,),
    consumes=CONSUMES,
    tasks=tasks,
    resources=resources,
    gauges=lambda ctx, session: overdue_gauges(session, ctx.resources),
)
