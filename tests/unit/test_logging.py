"""Structured logs: JSON lines in production carrying the trace ids, and never a child's
personal data even when a caller passes it by mistake."""

from __future__ import annotations

import json
import logging

import structlog
from opentelemetry.sdk.trace import TracerProvider

from shared.logging import configure_logging


def _lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_json_logs_carry_service_and_trace_ids(capsys) -> None:
    configure_logging(service="intake", log_format="json", level="INFO")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        structlog.get_logger("test").info("report stored", report_id="r-1")
    (line,) = _lines(capsys)
    entry = json.loads(line)
    assert entry["event"] == "report stored"
    assert entry["service"] == "intake"
    assert entry["report_id"] == "r-1"
    assert entry["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert entry["level"] == "info"


def test_personal_data_never_reaches_the_log(capsys) -> None:
    configure_logging(service="intake", log_format="json")
    structlog.get_logger("test").warning(
        "bad report",
        name="Wang Xiaoming",
        national_id="140402201605010011",
        phone="13800000000",
        address="3 Village Road",
        narrative="the story",
        case_id="c-1",
    )
    logging.getLogger("stdlib").warning("plain logging goes through the same pipeline")
    text = capsys.readouterr().err
    for secret in ("Wang Xiaoming", "140402201605010011", "13800000000", "3 Village Road", "the story"):
        assert secret not in text
    first, second = (json.loads(line) for line in text.splitlines() if line.strip())
    assert first["name"] == "[redacted]" and first["case_id"] == "c-1"
    assert second["service"] == "intake"


def test_console_logs_are_readable_lines(capsys) -> None:
    configure_logging(service="referral", log_format="console")
    structlog.get_logger("test").info("referral created", referral_id="x-1")
    (line,) = _lines(capsys)
    assert "referral created" in line and "referral_id=x-1" in line and not line.startswith("{")


def _fail_holding_a_childs_name() -> None:
    child_name = "Wang Xiaoming"  # a local of the failing frame, as a handler's report would be
    raise RuntimeError(f"handler failed on a report of {len(child_name)} characters")


def test_a_traceback_never_shows_the_failing_frames_local_values(capsys) -> None:
    for log_format in ("console", "json"):
        configure_logging(service="intake", log_format=log_format)
        try:
            _fail_holding_a_childs_name()
        except RuntimeError:
            structlog.get_logger("test").exception("unexpected error")
        text = capsys.readouterr().err
        assert "RuntimeError" in text and "_fail_holding_a_childs_name" in text, "the traceback is there"
        assert "Wang Xiaoming" not in text, f"{log_format}: a local variable's value reached the log"
