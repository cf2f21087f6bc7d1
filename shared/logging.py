"""Structured logs: JSON in production, readable in a terminal, with trace ids, and with
any personal-data field a caller passes by mistake redacted before it is written. The Kafka
client's and FastStream's own lines about a lost connection are folded into one line per
outage (shared.outage)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from shared.outage import OUTAGES, ClientLibraryNoise, Outages
from shared.telemetry import trace_ids

# Field names that would carry a child's (or reporter's) personal data: never logged.
PERSONAL_DATA_KEYS = frozenset(
    {
        "name",
        "full_name",
        "child_name",
        "reporter_name",
        "national_id",
        "id_number",
        "birth_date",
        "date_of_birth",
        "address",
        "phone",
        "phone_number",
        "narrative",
        "school",
        "email",
    }
)
REDACTED = "[redacted]"


def _add_trace_ids(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    event.update(trace_ids())
    return event


def redact_personal_data(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in PERSONAL_DATA_KEYS.intersection(event):
        event[key] = REDACTED
    return event


def configure_logging(
    *, service: str, log_format: str = "console", level: str = "INFO", outages: Outages = OUTAGES
) -> None:
    # A JSON line carries its traceback as one field; the console renderer prints it itself.
    renderers = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if log_format == "json"
        # A plain traceback: the default (rich's, when installed) prints every frame's local
        # variables, and a handler's locals hold the report it was given.
        else [
            structlog.dev.ConsoleRenderer(
                colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
            )
        ]
    )
    shared_processors = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
        redact_personal_data,
    ]
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
        )
    )
    handler.addFilter(ClientLibraryNoise(outages))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.contextvars.bind_contextvars(service=service)
    # aiokafka is chatty at INFO about every group rebalance; its warnings are kept, for the
    # filter above to learn of a lost broker from them.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    # FastStream gives its loggers a console handler of their own: route them through this one.
    faststream = logging.getLogger("faststream")
    faststream.handlers.clear()
    faststream.propagate = True
