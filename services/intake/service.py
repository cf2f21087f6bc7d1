"""The intake service's definition: the hotline and screening consumers, the referral follower that
decides which agency may read which child's details, the HTTP API, its keys, disclosure policy and
territory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.intake import handlers
from services.intake import tables as t
from services.intake.api import router
from services.intake.consents import router as consents_router
from services.intake.disclosure import DisclosureError, load_disclosure
from services.intake.exports import router as exports_router
from services.intake.reports import IntakeResources, ReportRejected, check_jurisdiction, parse_hotline_report
from services.intake.screening import parse_screening_record
from services.intake.summaries import router as summaries_router
from shared.contracts.lanes import names_immediate_danger
from shared.crypto import FieldCipher, LookupHasher
from shared.errors import ConfigurationError
from shared.service import Consumes, ServiceDefinition
from shared.settings import Settings
from shared.territory.registry import TerritoryError, load_territory
from shared.territory.transfers import follow, transfers


def resources(settings: Settings) -> IntakeResources:
    try:
        disclosure = load_disclosure()
        territory = load_territory(settings.territory_file)
    except (DisclosureError, TerritoryError) as exc:
        raise ConfigurationError(str(exc)) from None
    return IntakeResources(
        cipher=FieldCipher.from_settings(settings),
        hasher=LookupHasher.from_settings(settings),
        disclosure=disclosure,
        territory=territory,
    )


def _raw_reports(
    group: str,
    stage: Callable[[Callable[[], IntakeResources]], Any],
    parse: Callable[[bytes], Any],
    event_id: Callable[[Any], str],
    urgent: Callable[[bytes], bool] | None = None,
) -> Consumes:
    """A topic of raw reports from outside. A report no territory holds is dead-lettered at once,
    judged with the bytes: it never spoils the batch it came in."""

    def options(keys: Callable[[], IntakeResources]) -> dict[str, Any]:
        def parse_in_territory(raw: bytes) -> Any:
            report = parse(raw)
            check_jurisdiction(report, keys().territory)
            return report

        return {"parse": parse_in_territory, "event_id": event_id}

    return Consumes(group, stage, poison=(ReportRejected,), options=options, urgent=urgent)


CONSUMES = (
    _raw_reports(
        "intake.hotline",
        handlers.reports,
        parse_hotline_report,
        lambda report: f"{report.channel}:{report.external_id}",
        # A child in immediate danger is not read after the crowd ahead of it on the topic.
        urgent=names_immediate_danger,
    ),
    # A county's survey has its own topic and consumer group: a live report on the hotline topic
    # never waits behind it.
    _raw_reports(
        "intake.screening",
        handlers.screenings,
        parse_screening_record,
        lambda record: f"screening:{record.external_id}",
    ),
    # Casework closes a case, and a person reopens one there: intake's record follows both.
    Consumes("intake.closures", handlers.closures),
    # Batched: a first start (or a long stop) finds every past referral waiting.
    Consumes("intake.referrals", handlers.referrals),
    # A case moved to another territory: who may read the child's details moves with it.
    transfers("intake", lambda session, moves: follow(session, t.cases, moves, key="id")),
)


SERVICE = ServiceDefinition(
    name="intake",
    summary="Takes reports from the hotline topic and over HTTP; owns the child registry, case ids and who "
    "may read a child's details.",
    routers=(router, summaries_router, consents_router, exports_router),
    consumes=CONSUMES,
    resources=resources,
)
