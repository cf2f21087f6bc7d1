"""Which errors make a consumer wait for the database or broker instead of dead-lettering
the message: a valid report must never be dead-lettered because PostgreSQL restarted."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, InternalError, OperationalError

from shared.contracts.hotline import HotlineReport
from shared.messaging.consumer import is_infrastructure


def _wrapped(error_type, driver_error: Exception, *, invalidated: bool):
    """The error as SQLAlchemy raises it: its own type, raised from the driver's."""
    try:
        try:
            raise driver_error
        except Exception as cause:
            raise error_type("SELECT 1", {}, cause, connection_invalidated=invalidated) from cause
    except Exception as raised:  # noqa: BLE001
        return raised


def _validation_error() -> ValidationError:
    try:
        HotlineReport.model_validate_json(b"{}")
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "error",
    [
        # Seen when the server ends a connection mid-transaction (pg_terminate_backend, a restart):
        # asyncpg's InternalClientError, wrapped as InternalError with the connection invalidated.
        _wrapped(InternalError, asyncpg.exceptions.InternalClientError("connection lost"), invalidated=True),
        _wrapped(
            InternalError, asyncpg.exceptions.AdminShutdownError("terminating connection"), invalidated=False
        ),
        _wrapped(OperationalError, ConnectionRefusedError("refused"), invalidated=False),
        KafkaConnectionError("no broker"),
        ConnectionResetError("reset"),
    ],
    ids=["terminated-connection", "admin-shutdown", "refused", "kafka", "reset"],
)
def test_the_database_or_broker_going_away_is_infrastructure(error: BaseException) -> None:
    assert is_infrastructure(error)


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(InternalError, asyncpg.exceptions.InternalClientError("a bug"), invalidated=False),
        _wrapped(IntegrityError, asyncpg.exceptions.UniqueViolationError("duplicate"), invalidated=False),
        ValueError("the handler cannot apply this event"),
        _validation_error(),
    ],
    ids=["internal-bug", "integrity", "handler", "validation"],
)
def test_the_messages_own_faults_are_not(error: BaseException) -> None:
    assert not is_infrastructure(error)


def _app_raising(error: BaseException):
    from fastapi import FastAPI

    from shared.http import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/reports")
    async def submit() -> None:
        raise error

    return app


async def test_http_answers_503_when_the_database_ends_the_connection_and_500_without_details_otherwise():
    import httpx

    ended = _wrapped(
        InternalError, asyncpg.exceptions.InternalClientError("connection lost"), invalidated=True
    )
    bug = _wrapped(
        IntegrityError, asyncpg.exceptions.UniqueViolationError("Wang Xiaoming"), invalidated=False
    )
    answers = {}
    for name, error in (("ended", ended), ("bug", bug)):
        transport = httpx.ASGITransport(app=_app_raising(error), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
            answers[name] = await http.post("/v1/reports")
    assert answers["ended"].status_code == 503 and answers["ended"].headers["Retry-After"]
    assert answers["bug"].status_code == 500
    assert "Wang Xiaoming" not in answers["bug"].text and "SELECT" not in answers["bug"].text
