"""HTTP conventions every service shares: validation errors that name fields but never echo
values or unknown keys, strict JSON bodies, 503 when the database does not answer, a server span
per request, and the one table of answers (with the bearer scheme) the OpenAPI documents declare."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from fastapi.security import HTTPBearer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.contracts.strict_json import MAX_DEPTH, MalformedMessage, inspect_json
from shared.errors import INFRASTRUCTURE_ERRORS
from shared.messaging.consumer import is_infrastructure

ModelT = TypeVar("ModelT", bound=BaseModel)

UNKNOWN_FIELD = "unknown field not allowed"

# Declares the scheme in the OpenAPI documents; shared.auth.current_principal verifies it.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from cpnet's issuer, naming your role, agency and territory",
)


class Problem(BaseModel):
    detail: str


class CodedRefusal(BaseModel):
    """A refusal a client acts on: its words, its code, and what the code names (e.g. the open
    referrals to withdraw first)."""

    model_config = ConfigDict(extra="allow")

    msg: str
    code: str = Field(description="open_referrals, no_recent_visit, merged_by_link, child_has_open_case…")


class Conflict(BaseModel):
    detail: str | CodedRefusal


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class FieldProblems(BaseModel):
    detail: list[FieldProblem]


_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
}

# Every answer a route may give besides its success, described once; routes name theirs.
ANSWERS: dict[int, dict[str, Any]] = {
    401: {"model": Problem, "description": "no valid bearer token"},
    403: {"model": Problem, "description": "your role or territory may not do this"},
    404: {"model": Problem, "description": "no such record in your territory (or for your agency)"},
    409: {
        "model": Conflict,
        "description": "conflicts with the record's current state (some refusals say "
        "so with a code and what it names)",
    },
    # Starlette's body limit answers it, in plain text when the declared size is too large.
    413: {"description": "the body is larger than this route accepts; refused before it is read whole"},
    422: {
        "model": FieldProblems,
        "description": "invalid fields, each named by its location; values and unknown keys are never echoed",
    },
    429: {
        "model": Problem,
        "description": "too many requests: retry after Retry-After seconds",
        "headers": _RETRY_AFTER,
    },
    503: {
        "model": Problem,
        "description": "the database is unavailable: nothing was stored or shown; retry",
        "headers": _RETRY_AFTER,
    },
}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON Schema with every definition it refers to written in place: for a route that
    declares its body by hand (`openapi_extra`), whose `$defs` the OpenAPI document would not carry."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolved(node: Any) -> Any:
        if isinstance(node, dict):
            if str(node.get("$ref", "")).startswith("#/$defs/"):
                name = node["$ref"].rsplit("/", 1)[1]
                return resolved({**definitions[name], **{k: v for k, v in node.items() if k != "$ref"}})
            return {key: resolved(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolved(item) for item in node]
        return node

    return resolved(schema)


def note_required(note: str | None, why: str) -> None:
    """An action that must say why: without a note, the 422 a missing field gets, saying what it is for."""
    if note is None:
        raise HTTPException(
            status_code=422, detail=[{"loc": ["body", "note"], "msg": why, "type": "missing"}]
        )


def answers(*codes: int, described: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The shared answers `codes` for a route's `responses`, with the route's own
    description of any of them in `described`."""
    described = described or {}
    return {
        code: {**ANSWERS[code], **({"description": described[code]} if code in described else {})}
        for code in codes
    }


# What every authenticated route of every service may answer.
AUTHENTICATED_ANSWERS = answers(401, 403, 422, 429, 503)


def field_errors(errors: list[dict[str, Any]], *, prefix: tuple = ()) -> list[dict[str, Any]]:
    """Each error as its field path, message and type — without the rejected input, which
    may be a child's personal data. An unknown key is named by where it was found, not by
    itself: a key can be data too."""
    problems = []
    for err in errors:
        loc, msg = (*prefix, *err.get("loc", ())), err.get("msg", "")
        if err.get("type") == "extra_forbidden":
            loc, msg = loc[:-1], UNKNOWN_FIELD
        problems.append({"loc": list(loc), "msg": msg, "type": err.get("type", "")})
    return problems


def unprocessable(errors: list[dict[str, Any]]) -> HTTPException:
    return HTTPException(status_code=422, detail=errors)


async def strict_body(request: Request, model: type[ModelT]) -> ModelT:
    """Validate the raw JSON body with the model's strict JSON rules (FastAPI would validate
    the already-decoded dict in Python mode, where strict models reject ISO dates). The body
    has already passed StrictJSONBody, and the route's `max_body_size` bounds it."""
    body = await request.body()
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise unprocessable(field_errors(exc.errors(include_input=False), prefix=("body",))) from None


class StrictJSONBody:
    """ASGI middleware: when a route reads the body, it is read whole — through the body-size
    limit around it, which answers 413 as soon as the declared or streamed size passes the
    route's limit — and refused with 422 unless it is acceptable JSON (no duplicate keys, a
    parser-mismatch risk; no nesting too deep or numbers too long), before any parser sees it.
    Every API of ours takes JSON bodies only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        delivered = False

        async def whole_body() -> Message:
            nonlocal delivered
            if delivered:  # after the body: the client leaving, for instance
                return await receive()
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] != "http.request":  # gone mid-body: never hand on half a body
                    return message
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            delivered = True
            body = b"".join(chunks)
            if body:
                try:
                    inspect_json(
                        body, max_bytes=scope.get(MAX_BODY_SIZE_SCOPE_KEY) or len(body), max_depth=MAX_DEPTH
                    )
                except MalformedMessage as exc:
                    raise unprocessable(
                        [{"loc": ["body"], "msg": str(exc), "type": "json_invalid"}]
                    ) from None
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, whole_body, send)


# The W3C headers a caller's trace arrives in.
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})
_PROPAGATOR = TraceContextTextMapPropagator()


class ServerSpans:
    """ASGI middleware: a server span per request, continuing the caller's W3C `traceparent` if
    it sent one, so the events a request stages in the outbox travel in that trace. Named by the
    method and route template, it records the method, route and status only: no headers, no
    bodies, no query. (OpenTelemetry's ASGI instrumentation does the same with far more work per
    request — headers decoded, attributes of both conventions, metrics no one reads — which cost
    intake a sixth of its CPU under load.)"""

    def __init__(self, app: ASGIApp, *, tracer_provider: TracerProvider, excluded: frozenset[str]) -> None:
        self.app = app
        self.tracer = tracer_provider.get_tracer(__name__)
        self.excluded = excluded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.excluded:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _TRACE_HEADERS
        }
        # An exception's message may quote a statement's parameters: only its type is recorded.
        parent = _PROPAGATOR.extract(carrier)
        with self.tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        span.set_status(StatusCode.ERROR)
                await send(message)

            try:
                await self.app(scope, receive, send_with_status)
            except Exception as exc:
                span.set_status(StatusCode.ERROR, type(exc).__name__)
                raise
            finally:
                # Known once routing has run: the template, never the path with its ids.
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route of the app takes at this path (Starlette's 405 names only the first
    route that matched it: a path with GET and POST routes said `Allow: GET`)."""
    literal: set[str] = set()
    templated: set[str] = set()
    for route in iter_route_contexts(app.routes):
        template, taken = getattr(route, "path", None), getattr(route, "methods", None)
        if template and taken and compile_path(template)[0].match(path):
            (templated if "{" in template else literal).update(taken)
    # A path a route names as it is (`/v1/cases/summaries`) is that resource, not an id of a template's.
    return sorted(literal or templated)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(app, request.url.path))}
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": field_errors(list(exc.errors()))}, status_code=422)

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Nothing was stored: the client must retry (with the same Idempotency-Key).
        return JSONResponse(
            {"detail": "the database is unavailable; nothing was stored, retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    for error in INFRASTRUCTURE_ERRORS:
        app.add_exception_handler(error, _unavailable)

    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        # A server that ends the connection mid-request (a restart) raises InternalError with
        # the connection invalidated: unavailable, not a bug. Anything else is a 500 that
        # never repeats the statement or its parameters (they may hold personal data).
        if is_infrastructure(exc):
            return await _unavailable(request, exc)
        return JSONResponse({"detail": "internal error; nothing was stored"}, status_code=500)

    app.add_exception_handler(DBAPIError, _database_error)
