"""The assessment service's definition: its consumers, HTTP API and rule set."""

from __future__ import annotations

from services.assessment.api import router
from services.assessment.assess import Resources, on_case_reported, on_reassessment_requested
from services.assessment.grading import RuleSetError, load_rules
from shared.contracts.events import CaseReassessmentRequested, CaseReported
from shared.errors import ConfigurationError
from shared.messaging.consumer import IdempotentConsumer
from shared.service import ServiceContext, ServiceDefinition
from shared.settings import Settings


def resources(settings: Settings) -> Resources:
    """The grading rule set, validated at start-up: a bad file stops the service."""
    try:
        return Resources(rules=load_rules(settings.grading_rules))
    except RuleSetError as exc:
        raise ConfigurationError(str(exc)) from None


def consumers(ctx: ServiceContext) -> list[IdempotentConsumer]:
    async def reported(session, event, delivery) -> None:
        await on_case_reported(session, event, ctx.resources)

    async def reassess(session, event, delivery) -> None:
        await on_reassessment_requested(session, event, ctx.resources)

    return [
        ctx.consumer(name="assessment.reported", topic=CaseReported.TOPIC, handler=reported),
        ctx.consumer(name="assessment.reassessment", topic=CaseReassessmentRequested.TOPIC, handler=reassess),
    ]


SERVICE = ServiceDefinition(
    name="assessment",
    summary="Grades each case red / orange / blue from a versioned rule set; owns grades and needs.",
    routers=(router,),
    consumers=consumers,
    resources=resources,
)
