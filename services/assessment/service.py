"""The assessment service's definition: its consumers, HTTP API and rule set."""

from __future__ import annotations

from functools import partial

from services.assessment import tables as t
from services.assessment.api import router
from services.assessment.assess import Resources
from services.assessment.grading import RuleSetError, load_rules
from services.assessment.handlers import REASSESSMENTS, REPORTS, stage
from shared.contracts.lanes import names_immediate_danger
from shared.crypto import FieldCipher
from shared.errors import ConfigurationError
from shared.service import Consumes, ServiceDefinition
from shared.settings import Settings
from shared.territory.transfers import follow, transfers


def resources(settings: Settings) -> Resources:
    """The grading rule set, validated at start-up: a bad file stops the service."""
    try:
        return Resources(rules=load_rules(settings.grading_rules), cipher=FieldCipher.from_settings(settings))
    except RuleSetError as exc:
        raise ConfigurationError(str(exc)) from None


# Both in batches: a batch is decided in one pass over its cases (services/assessment/decide.py).
CONSUMES = (
    # A child in immediate danger is graded ahead of the crowd (shared/contracts/lanes.py).
    Consumes("assessment.reported", partial(stage, REPORTS), urgent=names_immediate_danger),
    Consumes("assessment.reassessment", partial(stage, REASSESSMENTS)),
    # A case moved to another territory: its next grades name the new one.
    transfers("assessment", lambda session, moves: follow(session, t.cases, moves)),
)


SERVICE = ServiceDefinition(
    name="assessment",
    summary="Grades each case red / orange / blue from a versioned rule set; owns grades and needs.",
    routers=(router,),
    consumes=CONSUMES,
    resources=resources,
)
