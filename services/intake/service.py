"""The intake service's definition: the hotline and screening consumers, the referral follower that
decides which agency may read which child's details, the HTTP API, its keys, disclosure policy and
territory."""

from __future__ import annotations

from collections.abc import Sequence

from services.intake import tables as t
from services.intake.access import on_referral_events
from services.intake.api import router
from services.intake.disclosure import DisclosureError, load_disclosure
from services.intake.reports import (
    IntakeResources,
    ReportRejected,
    Submission,
    check_jurisdiction,
    close_case,
    parse_hotline_report,
    record_reports,
    reopen_case,
)
from services.intake.screening import parse_screening_record, record_screenings
from services.intake.summaries import router as summaries_router
from shared.contracts.events import CaseClosed, CaseReopened, ReferralStatusChanged
from shared.contracts.hotline import HotlineReport
from shared.contracts.screening import ScreeningRecord
from shared.contracts.topics import referral_topic
from shared.contracts.vocabulary import Agency
from shared.crypto import FieldCipher, LookupHasher
from shared.errors import ConfigurationError
from shared.messaging.consumer import Delivery, IdempotentConsumer
from shared.service import ServiceContext, ServiceDefinition
from shared.settings import Settings
from shared.telemetry import traces_of
from shared.territory.registry import TerritoryError, load_territory
from shared.territory.transfers import follow, transfers_consumer

HOTLINE_SOURCE = "hotline"


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

    async def on_hotline_reports(session, items: Sequence[tuple[HotlineReport, Delivery]]) -> None:
        await record_reports(
            session,
            [Submission(report, HOTLINE_SOURCE, HOTLINE_SOURCE) for report, _ in items],
            keys=ctx.resources,
            traces=traces_of(delivery for _, delivery in items),
        )

    async def on_screening_records(session, items: Sequence[tuple[ScreeningRecord, Delivery]]) -> None:
        await record_screenings(
            session,
            [record for record, _ in items],
            keys=ctx.resources,
            traces=traces_of(delivery for _, delivery in items),
        )

    async def on_case_closed_or_reopened(session, event, delivery) -> None:
        if isinstance(event.payload, CaseReopened):
            await reopen_case(
                session, event.case_id, stage=event.payload.stage.value, reopened_at=event.payload.reopened_at
            )
        else:
            await close_case(session, event.case_id, event.payload.closed_at)

    async def on_referrals(session, items) -> None:
        traces_of(delivery for _, delivery in items)  # each event's consumer span, inside its own trace
        await on_referral_events(session, [event for event, _ in items])

    return [
        ctx.consumer(
            name="intake.hotline",
            topic=HotlineReport.TOPIC,
            handler=None,
            batch_handler=on_hotline_reports,
            batch=True,
            parse=lambda raw: in_territory(parse_hotline_report(raw)),
            event_id=lambda report: f"{report.channel}:{report.external_id}",
            poison=(ReportRejected,),
        ),
        # A county's survey has its own topic and consumer group: a live report on the hotline
        # topic never waits behind it.
        ctx.consumer(
            name="intake.screening",
            topic=ScreeningRecord.TOPIC,
            handler=None,
            batch_handler=on_screening_records,
            batch=True,
            parse=lambda raw: in_territory(parse_screening_record(raw)),
            event_id=lambda record: f"screening:{record.external_id}",
            poison=(ReportRejected,),
        ),
        # Casework closes a case, and a person reopens one there: intake's record follows both.
        ctx.consumer(
            name="intake.closures",
            topic=(CaseClosed.TOPIC, CaseReopened.TOPIC),
            handler=on_case_closed_or_reopened,
            batch=True,
        ),
        # Batched: a first start (or a long stop) finds every past referral waiting.
        ctx.consumer(
            name="intake.referrals",
            handler=None,
            batch_handler=on_referrals,
            batch=True,
            topic=(ReferralStatusChanged.TOPIC, *(referral_topic(agency) for agency in Agency)),
        ),
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
