"""The intake service's definition: the hotline and screening consumers, the referral follower that
decides which agency may read which child's details, the HTTP API, its keys, disclosure policy and
territory."""

from __future__ import annotations

from services.intake import handlers
from services.intake import tables as t
from services.intake.api import router
from services.intake.disclosure import DisclosureError, load_disclosure
from services.intake.reports import IntakeResources, ReportRejected, check_jurisdiction, parse_hotline_report
from services.intake.screening import parse_screening_record
from services.intake.summaries import router as summaries_router
from shared.crypto import FieldCipher, LookupHasher
from shared.errors import ConfigurationError
from shared.messaging.consumer import IdempotentConsumer
from shared.service import ServiceContext, ServiceDefinition
from shared.settings import Settings
from shared.territory.registry import TerritoryError, load_territory
from shared.territory.transfers import follow, transfers_consumer


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


def consumers(ctx: ServiceContext) -> list[IdempotentConsumer]:
    def in_territory(report):
        # Judged with the bytes: a report no territory holds is dead-lettered at once, and
        # never spoils the batch it came in.
        check_jurisdiction(report, ctx.resources.territory)
        return report

    def keys() -> IntakeResources:
        return ctx.resources

    return [
        ctx.stage(
            "intake.hotline",
            handlers.reports(keys),
            parse=lambda raw: in_territory(parse_hotline_report(raw)),
            event_id=lambda report: f"{report.channel}:{report.external_id}",
            poison=(ReportRejected,),
        ),
        # A county's survey has its own topic and consumer group: a live report on the hotline
        # topic never waits behind it.
        ctx.stage(
            "intake.screening",
            handlers.screenings(keys),
            parse=lambda raw: in_territory(parse_screening_record(raw)),
            event_id=lambda record: f"screening:{record.external_id}",
            poison=(ReportRejected,),
        ),
        # Casework closes a case, and a person reopens one there: intake's record follows both.
        ctx.stage("intake.closures", handlers.closures(keys)),
        # Batched: a first start (or a long stop) finds every past referral waiting.
        ctx.stage("intake.referrals", handlers.referrals(keys)),
        # A case moved to another territory: who may read the child's details moves with it.
        transfers_consumer(ctx, "intake", lambda session, moves: follow(session, t.cases, moves, key="id")),
    ]


SERVICE = ServiceDefinition(
    name="intake",
    summary="Takes reports from the hotline topic and over HTTP; owns the child registry, case ids and who "
    "may read a child's details.",
    routers=(router, summaries_router),
    consumers=consumers,
    resources=resources,
)
