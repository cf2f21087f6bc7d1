"""The audit service's definition: one consumer group over every topic without personal
data, appending to the ledger through its handler table; the checkpoint sweep; the sweep that keeps
the city's and the counties' bulletins counted (the running month's, the months over); the timeline and
bulletin APIs."""

from __future__ import annotations

from datetime import UTC, datetime

from services.audit.api import router
from services.audit.bulletin_api import router as bulletins
from services.audit.bulletin_api import territory
from services.audit.checkpoints import checkpoint_if_due, ledger_gauges, signing_key
from services.audit.decide import read
from services.audit.handlers import stage
from services.audit.keeper import keep_months, keep_running
from services.audit.ledger import LedgerEnd
from services.audit.merkle import Frontier
from services.audit.settings import AuditSettings
from shared.scheduling import periodic
from shared.service import Consumes, ServiceContext, ServiceDefinition

# The ledger: every message is recorded, even bytes no contract reads; it skips event keys it holds
# already. The stage keeps the process's memory of the chain's end, confirmed by every batch.
CONSUMES = (
    Consumes(
        "audit.ledger",
        lambda resources: stage(LedgerEnd()),
        options=lambda resources: {
            "parse_record": read,
            "event_id": lambda message: message.event_key,
            "inspect": False,
            "claim": False,
        },
    ),
)


# How long a sweep may count months over before it leaves the machine to the pipeline for a while, and
# how often it looks (the running months it counts again whatever the time they take: one statement
# pair a node).
KEEPING_S = 2.0
KEEPING_EVERY_S = 30.0


def tasks(ctx: ServiceContext):
    # The chains' Merkle trees so far (from the last checkpoint's frontiers at the first sweep):
    # each checkpoint hashes only the entries since.
    trees: dict[str, Frontier] = {}

    async def checkpoint(session) -> int:
        return 1 if await checkpoint_if_due(session, ctx.settings, trees=trees) else 0

    every = max(ctx.settings.sweep_interval_s, KEEPING_EVERY_S)

    async def keep(session) -> int:
        registry, counted = territory(ctx.settings.territory_file), 0
        if fresh := ctx.settings.audit_running_fresh_s:
            # Counted again once half as old as a reader may be answered (the sweep looks every 30 s).
            counted += await keep_running(ctx.sessions, registry, fresh / 2)
        if months := ctx.settings.audit_kept_months:
            counted += await keep_months(ctx.sessions, registry, datetime.now(UTC), months, KEEPING_S)
        return counted

    return [
        periodic(ctx, "audit.checkpoint", checkpoint, ctx.settings.sweep_interval_s),
        periodic(ctx, "audit.bulletins_kept", keep, every),
    ]


def resources(settings: AuditSettings) -> None:
    signing_key(settings)  # a malformed key stops the service at start-up


SERVICE = ServiceDefinition(
    name="audit",
    settings=AuditSettings,
    summary="The tamper-evident ledger of every event, its signed checkpoints and each case's timeline.",
    routers=(router, bulletins),
    consumes=CONSUMES,
    tasks=tasks,
    resources=resources,
    db_role=lambda settings: settings.audit_db_role,
    # Audit publishes nothing, and its INSERT-only role may not delete.
    purges_outbox=False,
    gauges=lambda ctx, session: ledger_gauges(session),
)
