"""The security headers on every answer of the console — pages, redirects, errors, static files, htmx's
fragments — in one ASGI middleware that wraps the whole application (services/console/app.py)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts, styles and everything else only from the console's own origin: no inline script or
# style, no eval (htmx is told so by its <meta name="htmx-config"> in base.html); charts are
# server-drawn SVG, whose presentation attributes (fill, font-size) are not styles. No page may
# frame the console, and its forms post only to it.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# Powerful features no page of the console uses, refused for it and anything it could embed.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "camera",
        "microphone",
        "geolocation",
        "payment",
        "usb",
        "serial",
        "hid",
        "bluetooth",
        "midi",
        "display-capture",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors' older twin, for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Production's console is reached over HTTPS only (a TLS terminator before it: deploy/README.md);
# development's is plain HTTP on 127.0.0.1, where a browser would keep HSTS for the host for a year.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


def security_headers(*, production: bool) -> dict[str, str]:
    """The headers every answer carries, HSTS in production only."""
    if production:
        return {**SECURITY_HEADERS, "Strict-Transport-Security": STRICT_TRANSPORT_SECURITY}
    return dict(SECURITY_HEADERS)


class SecurityHeaders:
    """ASGI middleware: sets the security headers on each HTTP answer as it starts, over whatever
    the route set, so no page can weaken them."""

    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.headers = security_headers(production=production)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
