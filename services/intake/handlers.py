"""Intake's handler tables, one a consumer group: hotline reports and survey rows (raw off their
topics, not enveloped: each rule finds or opens its report's case itself, on the registry the whole
batch loaded), closures and reopenings from casework, and the referrals' news that says which agency
may read which child. Each answered by services/intake/decide.py, in batches through the one unit
of work (shared/unit_of_work.py); the stores are services/intake/reports.py's and access.py's."""

from __future__ import annotations

from collections.abc import Callable

from services.intake import decide
from services.intake.access import GrantStore
from services.intake.reports import OUTBOX, PRODUCER, CaseStore, IntakeResources, registry_stage
from shared.contracts.events import (
    ConsentWithdrawn,
    ReferralCreated,
    ReferralStatusChanged,
    ReferralWithdrawn,
    ServiceChanged,
)
from shared.contracts.hotline import HotlineReport
from shared.contracts.screening import ScreeningRecord
from shared.unit_of_work import Handlers, Stage

# A hotline report: its child found or registered, its case joined, reopened or opened.
REPORTS = Handlers({HotlineReport: decide.report})
# A county's survey: every child joins the registry, one with a difficulty is reported.
SCREENINGS = Handlers({ScreeningRecord: decide.screening})
# Casework closes a case, and a person reopens one there: intake's record follows both.
CLOSURES = Handlers(decide.CASE_RULES)
# Who may read a child's details: an agency with an open referral of its case.
# And a provider's workers with an open service of the case, as an agency with an open referral.
REFERRALS = Handlers(
    dict.fromkeys(
        (ReferralStatusChanged, ReferralCreated, ReferralWithdrawn, ConsentWithdrawn, ServiceChanged),
        decide.granted,
    )
)


def reports(keys: Callable[[], IntakeResources]) -> Stage:
    return registry_stage(REPORTS, keys)


def screenings(keys: Callable[[], IntakeResources]) -> Stage:
    return registry_stage(SCREENINGS, keys)


def closures(keys: Callable[[], IntakeResources]) -> Stage:
    return Stage.of_service(PRODUCER, OUTBOX, CLOSURES, CaseStore(), keys)


def referrals(keys: Callable[[], IntakeResources]) -> Stage:
    """Every referral's news of a batch folded into one row a referral, whichever its case."""
    return Stage.of_service(PRODUCER, OUTBOX, REFERRALS, GrantStore(), keys, key=lambda _: decide.BATCH)
