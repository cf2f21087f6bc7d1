"""What travels in the urgent lane (issue 22): a report of a child in immediate danger.

Intake reads the hotline topic twice: its consumer group takes every report in order, and an urgent
lane (`intake.hotline.urgent`, shared/service.py `Consumes.urgent`) reads the same topic judging each
message by its bytes alone — no parsing, so reading past a crowd of twenty thousand reports costs a
fetch and a substring search each — and applies only the emergencies. Both claim under one name, so
each report is applied once, by whichever lane reaches it first.

The test looks for a JSON token, quotes included. A string inside a text is escaped (`\\"`), so a
narrative cannot spell it; a field that equals it by chance sends an ordinary report down the urgent
lane, which is harmless."""

from __future__ import annotations

from shared.contracts.vocabulary import Indicator

_IMMEDIATE_DANGER = f'"{Indicator.immediate_danger.value}"'.encode()


def names_immediate_danger(raw: bytes) -> bool:
    """A report (raw from the hotline, or `case.reported`) that names immediate danger."""
    return _IMMEDIATE_DANGER in raw
