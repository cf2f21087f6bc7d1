"""The referral service's definition: its routers and consumers (wired by shared.service)."""

from shared.service import ServiceDefinition

SERVICE = ServiceDefinition(
    name="referral",
    summary="Routes graded cases to the agencies that must act and holds them to deadlines.",
)
