"""The intake service's definition: the hotline and screening consumers, the referral follower that
decides which agency may read which child's details, the HTTP API, its keys, disclosure policy and territory."""

from __future__ import annotations

from services.intake.access import on_referral_event
from services.intake.api import router
from services.intake.disclosure import DisclosureError, load_disclosure
from services.intake.reports import IntakeResources, ReportRejected, close_case, parse_hotline_report, record_report
from services.intake.screening import parse_screening_record, record_screening
from shared.contracts.events import CaseClosed, ReferralStatusChanged
from shared.contracts.hotline import HotlineReport
from shared.contracts.screening import ScreeningRecord
from shared.contracts.topics import referral_topic
from shared.contracts.vocabulary import Agency
from shared.crypto import FieldCipher, LookupHasher
from shared.errors import ConfigurationError
from shared.messaging.consumer import Delivery, IdempotentConsumer
from shared.service import ServiceContext, ServiceDefinition
from shared.settings import Settings
from shared.territory.registry import TerritoryError, load_territory

HOTLINE_SOURCE = "hotline"


def resources(settings: Settings) -> IntakeResources:
    try:
        disclosure = load_disclosure()
        territory = load_territory(settings.territory_file)
    except (DisclosureError, TerritoryError) as exc:
        raise ConfigurationError(str(exc)) from None
    return IntakeResources(cipher=FieldCipher.from_settings(settings), hasher=LookupHasher.from_settings(settings),
                           disclosure=disclosure, territory=territory)


def consumers(ctx: ServiceContext) -> list[IdempotentConsumer]:
    async def on_hotline_report(session, report: HotlineReport, delivery: Delivery) -> None:
        await record_report(session, report, keys=ctx.resources, source=HOTLINE_SOURCE, recorded_by=HOTLINE_SOURCE)

    async def on_screening_record(session, record: ScreeningRecord, delivery: Delivery) -> None:
        await record_screening(session, record, keys=ctx.resources)

    async def on_case_closed(session, event, delivery) -> None:
        await close_case(session, event.case_id, event.payload.closed_at)

    async def on_referral(session, event, delivery) -> None:
        await on_referral_event(session, event)

    return [
        ctx.consumer(
            name="intake.hotline", topic=HotlineReport.TOPIC, handler=on_hotline_report, batch=True,
            parse=parse_hotline_report, event_id=lambda report: f"{report.channel}:{report.external_id}",
            poison=(ReportRejected,),
        ),
        # A county's survey has its own topic and consumer group: a live report on the hotline
        # topic never waits behind it.
        ctx.consumer(
            name="intake.screening", topic=ScreeningRecord.TOPIC, handler=on_screening_record, batch=True,
            parse=parse_screening_record, event_id=lambda record: f"screening:{record.external_id}",
            poison=(ReportRejected,),
        ),
        ctx.consumer(name="intake.closures", topic=CaseClosed.TOPIC, handler=on_case_closed, batch=True),
        # Batched: a first start (or a long stop) finds every past referral waiting.
        ctx.consumer(name="intake.referrals", handler=on_referral, batch=True,
                     topic=(ReferralStatusChanged.TOPIC, *(referral_topic(agency) for agency in Agency))),
    ]


SERVICE = ServiceDefinition(
    name="intake",
    summary="Takes reports from the hotline topic and over HTTP; owns the child registry, case ids and who "
            "may read a child's details.",
    routers=(router,),
    consumers=consumers,
    resources=resources,
)
