"""What a batch of referral events leaves of intake's referral grants (who may read a child's
details): one row per referral, the last status change winning, a late creation changing nothing."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from services.intake.access import grants_after
from shared.contracts.events import ReferralCreated, ReferralStatusChanged
from shared.contracts.vocabulary import Agency, ReferralState


def created(referral: uuid.UUID, case: uuid.UUID, emergency: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        payload=ReferralCreated.model_construct(
            referral_id=referral, case_id=case, agency=Agency.police, emergency=emergency
        )
    )


def changed(referral: uuid.UUID, case: uuid.UUID, state: ReferralState) -> SimpleNamespace:
    return SimpleNamespace(
        payload=ReferralStatusChanged.model_construct(
            referral_id=referral, case_id=case, agency=Agency.police, state=state
        )
    )


def test_a_creation_alone_is_added_and_status_changes_keep_the_last() -> None:
    case, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    new, moved = grants_after(
        [
            created(first, case),
            created(second, case),
            changed(second, case, ReferralState.acknowledged),
            changed(second, case, ReferralState.in_progress),
            created(second, case),
        ]
    )
    assert [(g["referral_id"], g["state"]) for g in new] == [(first, "created")]
    assert [(g["referral_id"], g["state"]) for g in moved] == [(second, "in_progress")], (
        "one row per referral: the last change wins, a late creation changes nothing"
    )


def test_a_status_change_that_came_before_its_creation_is_kept() -> None:
    case, referral = uuid.uuid4(), uuid.uuid4()
    new, moved = grants_after([changed(referral, case, ReferralState.done), created(referral, case)])
    assert new == [] and [g["state"] for g in moved] == ["done"]


def test_a_grant_keeps_whether_its_referral_is_an_emergency() -> None:
    """The police read an emergency's child without a consent: the grant must know which it is."""
    case, urgent, ordinary = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    new, _ = grants_after([created(urgent, case, emergency=True), created(ordinary, case)])
    assert {g["referral_id"]: g["emergency"] for g in new} == {urgent: True, ordinary: False}
