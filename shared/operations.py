"""Who may read a service's own documents and counts in production: `/docs` and `/openapi.json` with a
valid bearer token, `/metrics` with an operator's token or the scrape token — unless the operator
configures them open. In development they stay open, as they always were."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

from shared.auth import current_principal
from shared.contracts.vocabulary import Role
from shared.settings import Settings


def docs_open(settings: Settings) -> bool:
    """Whether `/docs` and `/openapi.json` are served to anyone (CPNET_API_DOCS_OPEN in production)."""
    return settings.environment != "production" or settings.api_docs_open


def metrics_open(settings: Settings) -> bool:
    """Whether `/metrics` is served to anyone (CPNET_METRICS_OPEN in production)."""
    return settings.environment != "production" or settings.metrics_open


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def is_scrape_token(settings: Settings, presented: str) -> bool:
    """The configured scrape token, compared in constant time (a timing difference would tell a
    guesser how much of it they had right); none configured matches nothing."""
    expected = settings.metrics_token.get_secret_value()
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


async def read_docs(request: Request) -> None:
    """FastAPI dependency of the API's documents in production: any valid bearer token (else 401)."""
    if not docs_open(request.app.state.settings):
        await current_principal(request)


async def read_metrics(request: Request) -> None:
    """FastAPI dependency of `/metrics` in production: the scrape token, or an operator's bearer token
    (401 without a token, 403 for another role)."""
    settings: Settings = request.app.state.settings
    if metrics_open(settings) or is_scrape_token(settings, _bearer(request)):
        return
    principal = await current_principal(request)
    if principal.role != Role.operator:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="the metrics are for the operators on call (or the scrape token)",
        )
