"""The followup service's definition: its routers and consumers (wired by shared.service)."""

from shared.service import ServiceDefinition

SERVICE = ServiceDefinition(
    name="followup",
    summary="Schedules and records follow-up visits until the child is safe; closes cases.",
)
