"""The restart rule of `cpnet run`: exponential back-off, forgiveness after a stable run, and
giving up on a service that keeps crashing."""

from __future__ import annotations

import pytest

from cpnet.restarts import GiveUp, Restart, RestartPolicy, Run, decide

POLICY = RestartPolicy(
    first_delay_s=1.0, max_delay_s=30.0, stable_after_s=60.0, max_crashes=5, crash_window_s=300.0
)


def crashes(*lasted_s: float, gap_s: float = 1.0) -> list[Run]:
    """Runs one after another, each lasting the given seconds, restarted `gap_s` after the last exit."""
    runs, started = [], 0.0
    for seconds in lasted_s:
        runs.append(Run(started_at=started, ended_at=started + seconds))
        started += seconds + gap_s
    return runs


def test_the_first_crash_is_restarted_after_the_first_delay() -> None:
    assert decide(crashes(5), POLICY) == Restart(delay_s=1.0, number=1)


def test_back_off_doubles_with_each_quick_crash() -> None:
    delays = [decide(crashes(*[2.0] * n), POLICY).delay_s for n in range(1, 5)]
    assert delays == [1.0, 2.0, 4.0, 8.0]


def test_back_off_is_capped() -> None:
    policy = RestartPolicy(max_crashes=10_000)
    assert decide(crashes(*[2.0] * 10), policy) == Restart(delay_s=30.0, number=10)
    # A day of short runs that never reach the give-up rate: still the cap, no overflow.
    assert decide(crashes(*[50.0] * 2000, gap_s=30.0), policy).delay_s == 30.0


def test_a_stable_run_resets_the_back_off() -> None:
    runs = crashes(2, 2, 2, 61, 2)
    assert decide(runs, POLICY) == Restart(delay_s=2.0, number=5)
    assert decide(crashes(2, 2, 2, 61), POLICY) == Restart(delay_s=1.0, number=4)


def test_gives_up_after_five_crashes_within_the_window() -> None:
    assert isinstance(decide(crashes(2, 2, 2, 2), POLICY), Restart)
    assert decide(crashes(2, 2, 2, 2, 2), POLICY) == GiveUp(crashes=5, window_s=300.0)


def test_crashes_before_a_stable_run_do_not_count_towards_giving_up() -> None:
    assert isinstance(decide(crashes(2, 2, 2, 2, 61), POLICY), Restart)
    # The stable run's own end is the first crash of a new streak.
    assert isinstance(decide(crashes(2, 2, 2, 2, 61, 2, 2, 2), POLICY), Restart)
    assert isinstance(decide(crashes(2, 2, 2, 2, 61, 2, 2, 2, 2), POLICY), GiveUp)


def test_crashes_older_than_the_window_do_not_count() -> None:
    # Five quick crashes, spread over more than the window: only the last three are recent.
    spread = crashes(2, 2, 2, 2, 2, gap_s=100.0)
    assert decide(spread, POLICY) == Restart(delay_s=16.0, number=5)


def test_a_decision_needs_the_run_that_ended() -> None:
    with pytest.raises(ValueError):
        decide([], POLICY)
