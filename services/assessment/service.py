"""The assessment service's definition: its consumers, HTTP API and rule set."""

from __future__ import annotations

from services.assessment import tables as t
from services.assessment.api import router
from services.assessment.assess import Resources
from services.assessment.grading import RuleSetError, load_rules
from services.assessment.handlers import REASSESSMENTS, REPORTS, stage
from shared.crypto import FieldCipher
from shared.errors import ConfigurationError
from shared.messaging.consumer import IdempotentConsumer
from shared.service import ServiceContext, ServiceDefinition
from shared.settings import Settings
from shared.territory.transfers import follow, transfers_consumer


def resources(settings: Settings) -> Resources:
    """The grading rule set, validated at start-up: a bad file stops the service."""
    try:
        return Resources(rules=load_rules(settings.grading_rules), cipher=FieldCipher.from_settings(settings))
    except RuleSetError as exc:
        raise ConfigurationError(str(exc)) from None


def consumers(ctx: ServiceContext) -> list[IdempotentConsumer]:
    """Both in batches: a batch is decided in one pass over its cases (services/assessment/decide.py)."""
    return [
        ctx.stage("assessment.reported", stage(REPORTS, lambda: ctx.resources)),
        ctx.stage("assessment.reassessment", stage(REASSESSMENTS, lambda: ctx.resources)),
        # A case moved to another territory: its next grades name the new one.
        transfers_consumer(ctx, "assessment", lambda session, moves: follow(session, t.cases, moves)),
    ]


SERVICE = ServiceDefinition(
    name="assessment",
    summary="Grades each case red / orange / blue from a versioned rule set; owns grades and needs.",
    routers=(router,),
    consumers=consumers,
    resources=resources,
)
