"""The intake service's definition: its routers and consumers (wired by shared.service)."""

from shared.service import ServiceDefinition

SERVICE = ServiceDefinition(
    name="intake",
    summary="Takes reports from the hotline topic and over HTTP; owns the child registry and case ids.",
)
