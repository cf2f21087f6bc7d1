"""HTTP conventions every service shares: validation errors that name fields but never echo
values, 503 when the database does not answer, and strict JSON bodies."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from shared.messaging.consumer import INFRASTRUCTURE_ERRORS

ModelT = TypeVar("ModelT", bound=BaseModel)


def field_errors(errors: list[dict[str, Any]], *, prefix: tuple = ()) -> list[dict[str, Any]]:
    """Each error as its field path, message and type — without the rejected input, which
    may be a child's personal data."""
    return [
        {"loc": [*prefix, *err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in errors
    ]


def unprocessable(errors: list[dict[str, Any]]) -> HTTPException:
    return HTTPException(status_code=422, detail=errors)


async def strict_body(request: Request, model: type[ModelT], *, max_bytes: int = 64 * 1024) -> ModelT:
    """Validate the raw JSON body with the model's strict JSON rules (FastAPI would validate
    the already-decoded dict in Python mode, where strict models reject ISO dates)."""
    body = await request.body()
    if len(body) > max_bytes:
        raise HTTPException(status_code=413, detail=f"body is {len(body)} bytes; the limit is {max_bytes}")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise unprocessable(field_errors(exc.errors(include_input=False), prefix=("body",))) from None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": field_errors(list(exc.errors()))}, status_code=422)

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Nothing was stored: the client must retry (with the same Idempotency-Key).
        return JSONResponse({"detail": "the database is unavailable; nothing was stored, retry later"},
                            status_code=503, headers={"Retry-After": "5"})

    for error in INFRASTRUCTURE_ERRORS:
        app.add_exception_handler(error, _unavailable)
