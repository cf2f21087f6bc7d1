"""What travels in the urgent lane (issue 22): a report of a child in immediate danger, and the
grade it leads to.

Intake reads the hotline topic twice: its consumer group takes every report in order, and an urgent
lane (`intake.hotline.urgent`, shared/service.py `Consumes.urgent`) reads the same topic judging each
message by its bytes alone — no parsing, so reading past a crowd of twenty thousand reports costs a
fetch and a substring search each — and applies only the emergencies. Both claim under one name, so
each report is applied once, by whichever lane reaches it first.

The test looks for a JSON token, quotes included. A string inside a text is escaped (`\\"`), so a
narrative cannot spell it; a field that equals it by chance sends an ordinary report down the urgent
lane, which is harmless.

Assessment's lane reads `case.reported` with the same test; referral's reads `case.assessed` for an
emergency grade (the one that sends the police). Each lane stages its events for its service's urgent
relay (shared/messaging/outbox.py), so they are not published behind the crowd's either."""

from __future__ import annotations

from shared.contracts.vocabulary import Indicator

_IMMEDIATE_DANGER = f'"{Indicator.immediate_danger.value}"'.encode()
_EMERGENCY = b'"emergency":true'  # pydantic's compact JSON, as every envelope is published


def names_immediate_danger(raw: bytes) -> bool:
    """A report (raw from the hotline, or `case.reported`) that names immediate danger."""
    return _IMMEDIATE_DANGER in raw


def names_emergency(raw: bytes) -> bool:
    """A grade (`case.assessed`) that makes the case an emergency."""
    return _EMERGENCY in raw
