"""The referral lifecycle: created → acknowledged → in_progress → done, or declined; every
illegal step refused with a message naming the action and the state; a repeated answer
harmless."""

from __future__ import annotations

import itertools

import pytest

from services.referral.lifecycle import IllegalTransition, answers_from, next_state, withdrawn_from
from shared.contracts.vocabulary import OPEN_REFERRAL_STATES as OPEN_STATES
from shared.contracts.vocabulary import ReferralState as S

ACTIONS = ("acknowledge", "start", "complete", "decline")

# Every legal step, and where it leads.
LEGAL = {
    (S.created, "acknowledge"): S.acknowledged,
    (S.created, "start"): S.in_progress,
    (S.created, "decline"): S.declined,
    (S.acknowledged, "start"): S.in_progress,
    (S.acknowledged, "complete"): S.done,
    (S.acknowledged, "decline"): S.declined,
    (S.in_progress, "complete"): S.done,
}
# Every repeat of what already happened: harmless, no change. An acknowledgement that
# arrives after the agency already answered more is a late receipt, not a mistake.
REPEATS = {
    (S.acknowledged, "acknowledge"),
    (S.in_progress, "acknowledge"),
    (S.done, "acknowledge"),
    (S.declined, "acknowledge"),
    (S.withdrawn, "acknowledge"),  # the kit's receipt of a referral withdrawn meanwhile
    (S.in_progress, "start"),
    (S.done, "complete"),
    (S.declined, "decline"),
}
ILLEGAL = sorted(set(itertools.product(S, ACTIONS)) - set(LEGAL) - REPEATS)


def test_the_full_happy_path() -> None:
    state = S.created
    for action, expected in (("acknowledge", S.acknowledged), ("start", S.in_progress), ("complete", S.done)):
        state = next_state(state, action)
        assert state == expected


def test_start_straight_from_created_implies_acknowledgement() -> None:
    assert next_state(S.created, "start") == S.in_progress
    assert next_state(S.in_progress, "complete") == S.done


@pytest.mark.parametrize("state", [S.created, S.acknowledged])
def test_decline_from_created_and_acknowledged(state: S) -> None:
    assert next_state(state, "decline") == S.declined


def test_complete_straight_from_acknowledged() -> None:
    assert next_state(S.acknowledged, "complete") == S.done


@pytest.mark.parametrize(("state", "action"), sorted(LEGAL))
def test_every_legal_step_leads_where_it_should(state: S, action: str) -> None:
    assert next_state(state, action) == LEGAL[(state, action)]


@pytest.mark.parametrize(("state", "action"), sorted(REPEATS))
def test_a_repeated_action_is_harmless(state: S, action: str) -> None:
    assert next_state(state, action) is None


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (S.created, "complete"),
        (S.in_progress, "decline"),
        (S.done, "decline"),
        (S.declined, "start"),
        (S.declined, "complete"),
        (S.done, "start"),
    ],
)
def test_named_illegal_transitions_raise(state: S, action: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_state(state, action)
    message = str(info.value)
    assert action in message
    assert state.value in message


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_every_other_transition_is_illegal_and_says_why(state: S, action: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_state(state, action)
    assert action in str(info.value)
    assert state.value in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("action", ACTIONS)
def test_nothing_moves_a_declined_referral(action: str) -> None:
    if action in ("decline", "acknowledge"):
        assert next_state(S.declined, action) is None
    else:
        with pytest.raises(IllegalTransition):
            next_state(S.declined, action)


@pytest.mark.parametrize("action", ACTIONS)
def test_nothing_reopens_a_done_referral(action: str) -> None:
    result = None
    try:
        result = next_state(S.done, action)
    except IllegalTransition:
        return
    assert result is None  # only the repeated `complete` and a late `acknowledge`


def test_open_states() -> None:
    assert OPEN_STATES == {S.created, S.acknowledged, S.in_progress}
    assert S.done not in OPEN_STATES
    assert S.declined not in OPEN_STATES


def _outcome(state: S, action: str) -> S | None:
    try:
        return next_state(state, action)
    except IllegalTransition:
        return None


@pytest.mark.parametrize("state", list(S))
def test_open_states_can_all_end_and_closed_ones_never_move(state: S) -> None:
    reachable = {_outcome(state, a) for a in ACTIONS} - {None}
    if state in OPEN_STATES:
        assert reachable & {S.done, S.declined}
    else:
        assert not reachable


@pytest.mark.parametrize("state", sorted(OPEN_STATES))
def test_an_open_referral_is_withdrawn(state: S) -> None:
    assert withdrawn_from(state) == S.withdrawn


def test_withdrawing_again_changes_nothing() -> None:
    assert withdrawn_from(S.withdrawn) is None


@pytest.mark.parametrize("state", [S.done, S.declined])
def test_a_referral_the_agency_ended_is_not_withdrawn(state: S) -> None:
    with pytest.raises(IllegalTransition, match=f"withdraw a referral that is {state}"):
        withdrawn_from(state)


def test_the_answers_an_agency_is_offered_are_those_the_lifecycle_takes() -> None:
    """The inbox shows these alone: each leads somewhere from the state, and no other answer does."""
    assert answers_from(S.created) == ["acknowledge", "start", "decline"]
    assert answers_from(S.acknowledged) == ["start", "complete", "decline"]
    assert answers_from(S.in_progress) == ["complete"]
    for state in (S.done, S.declined, S.withdrawn):
        assert answers_from(state) == []
    for state, action in itertools.product(S, ("acknowledge", "start", "complete", "decline")):
        if action in answers_from(state):
            assert next_state(state, action) is not None
