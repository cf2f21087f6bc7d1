"""An outage of Kafka or PostgreSQL costs a few log lines, not thousands: one when it begins,
a reminder at most once a minute, one when it ends; the client libraries' own lines about it
are folded in; an unexpected error still gets its traceback. The clock is a fake one."""

from __future__ import annotations

import json
import logging

import pytest
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError
from sqlalchemy.exc import OperationalError

from shared.logging import configure_logging
from shared.outage import DATABASE, KAFKA, Outages, dependency_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outages(clock: FakeClock) -> Outages:
    return Outages(clock=clock, remind_every_s=60.0, settle_s=15.0)


def _log_to_stderr(outages: Outages) -> None:
    """Called in the test itself, so the handler writes to the stderr capsys captures."""
    configure_logging(service="intake", log_format="json", outages=outages)


def _entries(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def _database_down() -> OperationalError:
    return OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connect call failed"))


def test_an_outage_is_one_line_when_lost_and_one_when_back(outages, clock, capsys) -> None:
    _log_to_stderr(outages)
    for _ in range(30 * 20):  # a consumer and a relay retrying for 30 s
        outages.lost(_database_down(), default=DATABASE, consumer="intake.hotline")
        clock.now += 0.05
    outages.back(DATABASE)
    lost, back = _entries(capsys)
    assert lost["event"] == "database unreachable" and lost["level"] == "warning"
    assert lost["reason"] == "OperationalError" and lost["consumer"] == "intake.hotline"
    assert back["event"] == "database reachable again" and back["after_s"] == 30
    assert "exception" not in lost and "exception" not in back


def test_a_long_outage_is_reminded_once_a_minute(outages, clock, capsys) -> None:
    _log_to_stderr(outages)
    for _ in range(150):
        outages.lost(KafkaConnectionError("Connection at 127.0.0.1:9092 closed"))
        clock.now += 1.0
    outages.back(KAFKA)
    events = [(entry["event"], entry.get("down_s")) for entry in _entries(capsys)]
    assert events == [
        ("kafka unreachable", None),
        ("kafka still unreachable", 60),
        ("kafka still unreachable", 120),
        ("kafka reachable again", None),
    ]


def test_a_flapping_dependency_is_said_at_most_twice_a_minute(outages, clock, capsys) -> None:
    _log_to_stderr(outages)
    for _ in range(50):  # lost for a second, back for a second, for 100 s
        outages.lost(_database_down(), default=DATABASE)
        clock.now += 1.0
        outages.back(DATABASE)
        clock.now += 1.0
    events = [entry["event"] for entry in _entries(capsys)]
    assert events == ["database unreachable", "database reachable again"] * 2


def test_the_kafka_clients_connection_noise_becomes_the_outage_line(outages, clock, capsys) -> None:
    _log_to_stderr(outages)
    client = logging.getLogger("aiokafka.client")
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    faststream = logging.getLogger("faststream.kafka")
    for _ in range(2000):  # what one service wrote in 30 s of a broker outage
        client.error("Unable connect to node with id %s: %s", 1, OSError(111, "Connect call failed"))
        client.error("Unable to update metadata from %s", [1])
        coordinator.error("Group Coordinator Request failed: %s", NodeNotReadyError("node 1 is not ready"))
        try:
            raise KafkaConnectionError("Connection at 127.0.0.1:9092 closed")
        except KafkaConnectionError as exc:
            faststream.error("Kafka error occurred", exc_info=exc)
        clock.now += 0.015
    outages.back(KAFKA)
    clock.now += 5  # reconnecting, the client still reports what failed
    coordinator.warning("Marking the coordinator dead (node %s)for group %s.", 1, "intake.hotline")
    lost, back = _entries(capsys)
    assert lost["event"] == "kafka unreachable" and lost["logger"] == "shared.outage"
    assert lost["reason"] == "ConnectionRefusedError"
    assert back["event"] == "kafka reachable again" and back["after_s"] == 30
    assert back["client_lines_folded"] == 4 * 2000


def test_faststream_never_prints_a_traceback_for_a_database_retry(outages, capsys) -> None:
    _log_to_stderr(outages)
    faststream = logging.getLogger("faststream.kafka")
    for _ in range(30):
        try:
            raise _database_down()
        except OperationalError as exc:
            faststream.error(f"OperationalError: {exc}", exc_info=exc)
    (lost,) = _entries(capsys)
    assert lost["event"] == "database unreachable" and "exception" not in lost


def test_other_client_warnings_pass_once_a_minute_each(outages, clock, capsys) -> None:
    _log_to_stderr(outages)
    fetcher = logging.getLogger("aiokafka.consumer.fetcher")
    for _ in range(100):
        fetcher.warning("Not authorized to read from topic %s.", "referral.to.police")
        clock.now += 1.0
    warned = [entry["event"] for entry in _entries(capsys)]
    assert warned == ["Not authorized to read from topic referral.to.police."] * 2


def test_an_unexpected_error_keeps_its_traceback(outages, capsys) -> None:
    _log_to_stderr(outages)
    import structlog

    try:
        raise ValueError("a bug")
    except ValueError:
        structlog.get_logger("shared.scheduling").exception("sweep failed", sweep="referral.escalation")
    (entry,) = _entries(capsys)
    assert "Traceback" in entry["exception"] and "ValueError: a bug" in entry["exception"]


def test_which_dependency_an_error_names() -> None:
    assert dependency_of(_database_down()) == DATABASE
    assert dependency_of(KafkaConnectionError("closed")) == KAFKA
    assert dependency_of(ConnectionRefusedError(111, "refused"), default=DATABASE) == DATABASE
    assert dependency_of(ValueError("a bug"), default=DATABASE) is None
