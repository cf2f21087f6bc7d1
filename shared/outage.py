"""One line when Kafka or PostgreSQL is lost, one when it is back, and a reminder at most once
a minute in between, whoever notices it: the relay, the consumers, the sweeps or the clients."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any

import structlog
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    NodeNotReadyError,
    RequestTimedOutError,
)
from asyncpg.exceptions import InterfaceError as DriverInterfaceError
from asyncpg.exceptions import OperatorInterventionError, PostgresConnectionError
from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

KAFKA = "kafka"
DATABASE = "database"

# What the Kafka client says when it cannot reach a broker at all (not a rebalance, not a
# missing topic): only these mark Kafka as lost from the client's own log lines.
KAFKA_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    KafkaConnectionError,
    NodeNotReadyError,
    KafkaTimeoutError,
    RequestTimedOutError,
    NoBrokersAvailable,
    OSError,
)
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PostgresConnectionError,
    OperatorInterventionError,
    DriverInterfaceError,
)
# Loggers of the client libraries whose lines the outage lines replace.
CLIENT_LIBRARIES = ("aiokafka", "faststream")

Clock = Callable[[], float]


def _causes(exc: BaseException) -> list[BaseException]:
    """The error and what it was raised from, outermost first (SQLAlchemy and aiokafka wrap
    the driver's own error). Not what was being handled when it was raised: a bug in an
    except-block is still a bug."""
    causes = [exc]
    while (cause := causes[-1].__cause__) is not None and cause not in causes:
        causes.append(cause)
    return causes


def dependency_of(exc: BaseException, *, default: str | None = None) -> str | None:
    """Which dependency an error says is unavailable, or None when it is not an
    infrastructure failure (a bug, a bad message). `default` names the dependency the
    caller was talking to, for errors that do not say (a refused socket, a timeout)."""
    for cause in _causes(exc):
        if isinstance(cause, (KafkaConnectionError, KafkaTimeoutError)) or (
            isinstance(cause, KafkaError) and cause.retriable
        ):
            return KAFKA
        if isinstance(cause, DATABASE_ERRORS):
            return DATABASE
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return DATABASE
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return default
    return None


class Outage:
    """What this process knows of one dependency's reachability, and the few lines that say
    so. A loss that starts within `remind_every_s` of the last line (a flapping link, or one
    message that always times out) is not announced again, nor is its end: a flap costs at
    most two lines a minute."""

    def __init__(
        self,
        dependency: str,
        *,
        clock: Clock = time.monotonic,
        remind_every_s: float = 60.0,
        settle_s: float = 15.0,
    ) -> None:
        self.dependency = dependency
        self.clock = clock
        self.remind_every_s = remind_every_s
        # Right after a recovery the clients still report what failed while it lasted.
        self.settle_s = settle_s
        self.began: float | None = None
        self.announced = False
        self.folded = 0  # client-library lines dropped during this outage
        self._last_line = -math.inf
        self._ended = -math.inf

    @property
    def ongoing(self) -> bool:
        return self.began is not None

    @property
    def settling(self) -> bool:
        return self.ongoing or self.clock() - self._ended < self.settle_s

    def lost(self, reason: BaseException | str, **context: Any) -> None:
        now = self.clock()
        # The driver's own error class (AdminShutdownError, ConnectionRefusedError…) says most.
        why = reason if isinstance(reason, str) else type(_causes(reason)[-1]).__name__
        if self.began is None:
            self.began = now
            self.announced = now - self._last_line >= self.remind_every_s
            if self.announced:
                self._say(log.warning, f"{self.dependency} unreachable", now, reason=why, **context)
        elif now - self._last_line >= self.remind_every_s:
            self.announced = True
            self._say(
                log.warning,
                f"{self.dependency} still unreachable",
                now,
                reason=why,
                down_s=round(now - self.began),
                **context,
            )

    def back(self) -> None:
        if self.began is None:
            return
        now = self.clock()
        if self.announced:
            self._say(
                log.info,
                f"{self.dependency} reachable again",
                now,
                after_s=round(now - self.began),
                client_lines_folded=self.folded,
            )
        self.began, self.announced, self.folded, self._ended = None, False, 0, now

    def _say(self, emit: Callable[..., Any], event: str, now: float, **fields: Any) -> None:
        self._last_line = now
        emit(event, dependency=self.dependency, **fields)


class Outages:
    """The process's view of Kafka and of PostgreSQL."""

    def __init__(
        self, *, clock: Clock = time.monotonic, remind_every_s: float = 60.0, settle_s: float = 15.0
    ) -> None:
        self.clock = clock
        self.by_dependency = {
            name: Outage(name, clock=clock, remind_every_s=remind_every_s, settle_s=settle_s)
            for name in (KAFKA, DATABASE)
        }

    def __getitem__(self, dependency: str) -> Outage:
        return self.by_dependency[dependency]

    @property
    def any_ongoing(self) -> bool:
        return any(outage.ongoing for outage in self.by_dependency.values())

    def lost(self, exc: BaseException, *, default: str | None = None, **context: Any) -> bool:
        """Record an infrastructure failure (True), or return False for any other error,
        which the caller must report itself."""
        dependency = dependency_of(exc, default=default)
        if dependency is None:
            return False
        self[dependency].lost(exc, **context)
        return True

    def back(self, dependency: str) -> None:
        self[dependency].back()


OUTAGES = Outages()  # this process's; nothing is logged until something fails


class Throttle:
    """The first line of each kind, then at most one per `every_s`; counts what it held back."""

    def __init__(self, every_s: float, clock: Clock = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._last: dict[Hashable, float] = {}
        self.held_back: Counter = Counter()

    def admit(self, kind: Hashable) -> bool:
        now = self.clock()
        if now - self._last.get(kind, -math.inf) < self.every_s:
            self.held_back[kind] += 1
            return False
        self._last[kind] = now
        return True


class ClientLibraryNoise(logging.Filter):
    """A handler filter for aiokafka's and FastStream's own lines. A lost connection, or an
    infrastructure error FastStream reports with its traceback, becomes the outage's one line;
    the warnings they log while Kafka is out (and just after) are dropped and counted; any
    other line of theirs passes once per minute per kind."""

    def __init__(self, outages: Outages, *, every_s: float = 60.0) -> None:
        super().__init__()
        self.outages = outages
        self.throttle = Throttle(every_s, outages.clock)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".", 1)[0] not in CLIENT_LIBRARIES:
            return True
        dependency = self._outage_named_by(record)
        if dependency is not None:
            self.outages[dependency].folded += 1
            return False
        kafka = self.outages[KAFKA]
        if kafka.settling and record.levelno >= logging.WARNING:
            kafka.folded += 1
            return False
        return self.throttle.admit((record.name, str(record.msg)))

    def _outage_named_by(self, record: logging.LogRecord) -> str | None:
        args = record.args if isinstance(record.args, tuple) else ()
        errors = [arg for arg in args if isinstance(arg, BaseException)]
        if record.exc_info and record.exc_info[1] is not None:
            errors.append(record.exc_info[1])
        for error in errors:
            if record.name.startswith("aiokafka"):
                dependency = KAFKA if isinstance(error, KAFKA_CONNECTION_ERRORS) else None
            else:  # FastStream: our consumers re-raise only infrastructure failures, mostly the database's
                dependency = dependency_of(error, default=DATABASE)
            if dependency is not None:
                self.outages[dependency].lost(error)
                return dependency
        return None


async def _database_problem(engine: AsyncEngine, timeout: float) -> BaseException | None:
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - whatever it is, the database is not answering yet
        return exc
    return None


async def watch_recovery(
    engine: AsyncEngine,
    broker: KafkaBroker,
    stop: asyncio.Event,
    *,
    outages: Outages = OUTAGES,
    every_s: float = 2.0,
    timeout: float = 3.0,
) -> None:
    """While an outage lasts, probe its dependency every `every_s` so that its end is said
    even when no work is waiting to prove it (an idle consumer, an empty outbox)."""
    while not stop.is_set():
        if outages[DATABASE].ongoing:
            problem = await _database_problem(engine, timeout)
            if problem is None:
                outages.back(DATABASE)
            else:
                outages[DATABASE].lost(problem)
        if outages[KAFKA].ongoing:
            if await broker.ping(timeout=timeout):
                outages.back(KAFKA)
            else:
                outages[KAFKA].lost(f"no answer within {timeout:.0f} s")
        try:
            await asyncio.wait_for(stop.wait(), timeout=every_s)
        except TimeoutError:
            pass
