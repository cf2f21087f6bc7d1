"""Rate limits of the HTTP APIs: token buckets per principal (writes, reads of a child's
personal data) and per client address before any token is read, answered with 429 and Retry-After."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum

from fastapi import HTTPException, Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.auth import CurrentPrincipal
from shared.settings import Settings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Orchestrators' probes must keep answering while a flood is refused.
PROBES = frozenset({"/healthz", "/readyz"})
# Past this many callers, those idle longest are forgotten (a forgotten bucket is full again,
# which an idle caller's bucket nearly always is anyway): memory stays bounded under a flood
# of distinct addresses.
MAX_TRACKED = 100_000


@dataclass(frozen=True)
class Rate:
    """`requests` per `seconds`, and as many at once: a bucket of that size, refilled evenly."""

    requests: int
    seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds <= 0:
            raise ValueError("a rate needs at least one request per a positive number of seconds")

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


class RateLimiter:
    """Token buckets by caller, in this process (each replica limits on its own)."""

    def __init__(
        self, rate: Rate, *, clock: Callable[[], float] = time.monotonic, max_tracked: int = MAX_TRACKED
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._max_tracked = max_tracked
        # caller → (tokens left, when counted); least recently seen first.
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def take(self, caller: Hashable) -> float:
        """0 when the caller may go ahead (one token taken); else the seconds until it may."""
        now = self._clock()
        tokens, counted = self._buckets.pop(caller, (float(self.rate.requests), now))
        tokens = min(float(self.rate.requests), tokens + (now - counted) * self.rate.per_second)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate.per_second
        self._buckets[caller] = (tokens, now)
        while len(self._buckets) > self._max_tracked:
            self._buckets.popitem(last=False)
        return wait


class Traffic(StrEnum):
    """What a principal's requests are limited as."""

    writes = "writes"
    personal_data = "reads of personal data"


@dataclass(frozen=True)
class RateLimits:
    """One running service's limiters, built from its settings."""

    per_principal: dict[Traffic, RateLimiter]
    per_address: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> RateLimits:
        return cls(
            per_principal={
                Traffic.writes: RateLimiter(Rate(settings.rate_limit_writes_per_minute), clock=clock),
                Traffic.personal_data: RateLimiter(
                    Rate(settings.rate_limit_personal_reads_per_minute), clock=clock
                ),
            },
            per_address=RateLimiter(Rate(settings.rate_limit_address_per_minute), clock=clock),
        )


def retry_after(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait)))}


def too_many(traffic: str, wait: float) -> HTTPException:
    return HTTPException(
        status_code=429, detail=f"too many {traffic}; retry later", headers=retry_after(wait)
    )


def limit_of(traffic: Traffic, *, methods: frozenset[str] | None = None) -> Callable[..., Awaitable[None]]:
    """A dependency spending one of the principal's `traffic` tokens (only on `methods`, when
    given), else 429. It reads the token itself, so it may come before the role check."""

    async def dependency(request: Request, principal: CurrentPrincipal) -> None:
        if methods is not None and request.method not in methods:
            return
        limits: RateLimits = request.app.state.rate_limits
        if wait := limits.per_principal[traffic].take(principal.subject):
            raise too_many(traffic.value, wait)

    return dependency


class AddressRateLimit:
    """ASGI middleware: requests per client address, before authentication, so that a flood
    of forged or missing tokens costs the service next to nothing. Probes are exempt."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in PROBES:
            client = scope.get("client")
            if wait := self.limiter.take(client[0] if client else None):
                answer = JSONResponse(
                    {"detail": "too many requests from your address; retry later"},
                    status_code=429,
                    headers=retry_after(wait),
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


# Every service's routers take the first (shared/service.py: every write of every API is
# limited); the routes that show a child's personal data take the second.
limit_writes = limit_of(Traffic.writes, methods=WRITE_METHODS)
limit_personal_data = limit_of(Traffic.personal_data)
