"""When `cpnet run` restarts a service that died, and when it gives up: a pure rule over the
service's past runs, so every case is a unit test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    # A run this long forgives the crashes before it: the back-off starts again from the first delay.
    stable_after_s: float = 60.0
    # This many exits within the window is a service that cannot run (bad configuration, a bug
    # on start-up): restarting it for ever would only hide that, so everything stops.
    max_crashes: int = 5
    crash_window_s: float = 300.0


@dataclass(frozen=True)
class Run:
    """One process of a service, from its start to its exit (monotonic seconds)."""

    started_at: float
    ended_at: float

    @property
    def lasted_s(self) -> float:
        return self.ended_at - self.started_at


@dataclass(frozen=True)
class Restart:
    delay_s: float
    number: int  # how many times this service has been restarted, this one included


@dataclass(frozen=True)
class GiveUp:
    crashes: int
    window_s: float


def decide(runs: Sequence[Run], policy: RestartPolicy) -> Restart | GiveUp:
    """What to do about a service whose runs so far are `runs`, oldest first, the last one
    having just ended."""
    if not runs:
        raise ValueError("decide needs the run that just ended")
    crashes = _crashes_since_stable(runs, policy)
    now = runs[-1].ended_at
    recent = sum(1 for run in crashes if run.ended_at >= now - policy.crash_window_s)
    if recent >= policy.max_crashes:
        return GiveUp(crashes=recent, window_s=policy.crash_window_s)
    doublings = min(len(crashes) - 1, 32)  # a streak can outgrow a float's range in a day of crashes
    delay = min(policy.max_delay_s, policy.first_delay_s * 2**doublings)
    return Restart(delay_s=delay, number=len(runs))


def _crashes_since_stable(runs: Sequence[Run], policy: RestartPolicy) -> list[Run]:
    """The runs back to the latest stable one: its end starts a new streak of crashes."""
    streak = []
    for run in reversed(runs):
        streak.append(run)
        if run.lasted_s >= policy.stable_after_s:
            break
    return streak
