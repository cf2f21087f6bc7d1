"""The intake service's definition: the hotline consumer, the HTTP API and its keys."""

from __future__ import annotations

from services.intake.api import router
from services.intake.reports import IntakeKeys, ReportRejected, close_case, parse_hotline_report, record_report
from shared.contracts.events import CaseClosed
from shared.contracts.hotline import HotlineReport
from shared.crypto import FieldCipher, LookupHasher
from shared.messaging.consumer import Delivery, IdempotentConsumer
from shared.service import ServiceContext, ServiceDefinition
from shared.settings import Settings

HOTLINE_SOURCE = "hotline"


def keys(settings: Settings) -> IntakeKeys:
    return IntakeKeys(cipher=FieldCipher.from_settings(settings), hasher=LookupHasher.from_settings(settings))


def consumers(ctx: ServiceContext) -> list[IdempotentConsumer]:
    async def on_hotline_report(session, report: HotlineReport, delivery: Delivery) -> None:
        await record_report(session, report, keys=ctx.resources, source=HOTLINE_SOURCE, recorded_by=HOTLINE_SOURCE)

    async def on_case_closed(session, event, delivery) -> None:
        await close_case(session, event.case_id, event.payload.closed_at)

    return [
        ctx.consumer(
            name="intake.hotline", topic=HotlineReport.TOPIC, handler=on_hotline_report,
            parse=parse_hotline_report, event_id=lambda report: f"{report.channel}:{report.external_id}",
            poison=(ReportRejected,),
        ),
        ctx.consumer(name="intake.closures", topic=CaseClosed.TOPIC, handler=on_case_closed),
    ]


SERVICE = ServiceDefinition(
    name="intake",
    summary="Takes reports from the hotline topic and over HTTP; owns the child registry and case ids.",
    routers=(router,),
    consumers=consumers,
    resources=keys,
)
