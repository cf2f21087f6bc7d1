"""The referral lifecycle: created → acknowledged → in_progress → done (successful or not,
with a reason) or declined (with a reason), or withdrawn by the case's side (with a reason) while
it is open. Pure state machine."""

from __future__ import annotations

from shared.contracts.events import ReferralAction
from shared.contracts.vocabulary import OPEN_REFERRAL_STATES, ReferralState

# What each action leads to, and from which states it may be taken. Starting work implies
# acknowledging it: an agency that answers "started" has evidently received the referral.
TARGET: dict[ReferralAction, ReferralState] = {
    "acknowledge": ReferralState.acknowledged,
    "start": ReferralState.in_progress,
    "complete": ReferralState.done,
    "decline": ReferralState.declined,
}
ALLOWED_FROM: dict[ReferralAction, frozenset[ReferralState]] = {
    "acknowledge": frozenset({ReferralState.created}),
    "start": frozenset({ReferralState.created, ReferralState.acknowledged}),
    "complete": frozenset({ReferralState.acknowledged, ReferralState.in_progress}),
    "decline": frozenset({ReferralState.created, ReferralState.acknowledged}),
}


class IllegalTransition(ValueError):
    """The action is not allowed from the referral's state; the message says which."""


def next_state(current: ReferralState, action: ReferralAction) -> ReferralState | None:
    """The state after `action`, or None when the action repeats what already happened
    (a repeated answer, or an acknowledgement of a referral already past acknowledged, is
    harmless). Raises IllegalTransition otherwise."""
    target = TARGET[action]
    if current == target:
        return None
    if action == "acknowledge" and current != ReferralState.created:
        # A receipt that arrives after the agency already answered more (the agency kit
        # acknowledges on delivery, an officer may have started or declined first over
        # HTTP): late, but true, and no reason to wake the operator with a dead letter.
        return None
    if current not in ALLOWED_FROM[action]:
        raise IllegalTransition(f"cannot {action} a referral that is {current}")
    return target


def withdrawn_from(current: ReferralState) -> ReferralState | None:
    """The case's side ends an open referral: withdrawn, or None when it was withdrawn already.
    Raises IllegalTransition for one the agency has ended (done or declined)."""
    if current == ReferralState.withdrawn:
        return None
    if current not in OPEN_REFERRAL_STATES:
        raise IllegalTransition(f"cannot withdraw a referral that is {current}")
    return ReferralState.withdrawn


def answers_from(current: ReferralState) -> list[ReferralAction]:
    """The answers an agency may give to a referral in this state (what its inbox offers)."""
    return [action for action, allowed in ALLOWED_FROM.items() if current in allowed]
