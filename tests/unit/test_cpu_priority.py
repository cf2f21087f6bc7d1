"""Who waits runs first (shared/service.py yield_cpu): the stages that work from the topics take
CPNET_STAGE_NICE below intake, which answers the people reporting. Each case runs in a process of
its own, since a process cannot raise its priority again."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import os, sys
from shared.service import definition_of, yield_cpu
from shared.settings import Settings
print(yield_cpu(definition_of(sys.argv[1]), Settings(stage_nice=int(sys.argv[2]))) - int(sys.argv[3]))
"""


def lowered_by(service: str, stage_nice: int) -> int:
    """How far the service's process lowered its priority below the one it was started with."""
    done = subprocess.run([sys.executable, "-c", PROBE, service, str(stage_nice), str(os.nice(0))],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("stage", ["assessment", "referral", "followup", "audit"])
def test_a_stage_lowers_its_priority_by_the_stage_nice(stage: str) -> None:
    assert lowered_by(stage, 10) == min(10, 19 - os.nice(0))


def test_intake_keeps_the_priority_it_was_started_with() -> None:
    assert lowered_by("intake", 10) == 0


def test_a_stage_nice_of_zero_keeps_every_service_equal() -> None:
    assert lowered_by("referral", 0) == 0
