"""The casework service's definition: one consumer of every event that changes a case as a whole,
its HTTP API (the worklist, assignment) and its policy."""

from __future__ import annotations

from services.casework.api import approvals_router, router
from services.casework.cases import Resources
from services.casework.decide import UnexpectedEvent
from services.casework.escalation import escalate_cases, late_gauges
from services.casework.handlers import case_events
from services.casework.policy import PolicyError, load_policy
from shared.crypto import FieldCipher
from shared.errors import ConfigurationError
from shared.scheduling import periodic_work
from shared.service import Consumes, ServiceContext, ServiceDefinition
from shared.settings import Settings
from shared.territory.registry import TerritoryError, load_territory


def resources(settings: Settings) -> Resources:
    try:
        return Resources(
            policy=load_policy(),
            territory=load_territory(settings.territory_file),
            cipher=FieldCipher.from_settings(settings),
        )
    except (PolicyError, TerritoryError) as exc:
        raise ConfigurationError(str(exc)) from None


# One consumer group over every topic of the handler table, in batches decided in one pass over
# their cases.
CONSUMES = (Consumes("casework.cases", case_events, poison=(UnexpectedEvent,)),)


def tasks(ctx: ServiceContext):
    return [
        periodic_work(
            ctx,
            "casework.escalation",
            lambda work: escalate_cases(work, ctx.resources),
            ctx.settings.sweep_interval_s,
        )
    ]


SERVICE = ServiceDefinition(
    name="casework",
    summary="Owns each case as a whole: its owner, the written review, approvals, closure, the worklist.",
    routers=(router, approvals_router),
    consumes=CONSUMES,
    tasks=tasks,
    resources=resources,
    gauges=lambda ctx, session: late_gauges(session, ctx.resources),
)
