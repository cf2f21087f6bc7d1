"""The assessment service's definition: its routers and consumers (wired by shared.service)."""

from shared.service import ServiceDefinition

SERVICE = ServiceDefinition(
    name="assessment",
    summary="Grades each case red / orange / blue from a versioned rule set; owns grades and needs.",
)
