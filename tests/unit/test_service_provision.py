"""The services of a plan, decided purely (services/referral/provision.py): what a caseworker may plan
for which provider, the provider's answers and units, a withdrawal, and the move up the territory of
one left open past its due date."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.referral import provision
from services.referral.lifecycle import IllegalTransition
from services.referral.provision import Planned, Provider, ServiceRefused
from shared.contracts.events import ServiceChanged
from shared.contracts.vocabulary import (
    JudgementResult,
    LawsuitStep,
    ProviderKind,
    ServiceKind,
    ServiceOutcome,
    ServiceState,
)

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)  # 10:00 in China
VILLAGE = "140402001001"
SOCIAL_WORK = Provider(
    id=uuid.uuid4(),
    name="Sunflower social work",
    kind=ProviderKind.social_work_organisation.value,
    territory="140402",
    kinds=("counselling", "guardian_guidance"),
    created_at=NOW,
)


def planned(
    kind=ServiceKind.counselling, provider=SOCIAL_WORK, needs=("psychological",), due=date(2026, 12, 20)
):
    return provision.plan(
        case_id=uuid.uuid4(),
        case_needs=needs,
        jurisdiction=VILLAGE,
        risk_level="red",
        case_number="140402-2026-00001",
        asked=Planned(kind=kind, due_on=due, units_planned=6),
        provider=provider,
        by="cw-1",
        now=NOW,
        new_id=uuid.uuid4(),
    )


def test_a_planned_service_is_announced_with_codes_and_counts_only() -> None:
    service, event = planned()
    assert service.state == ServiceState.planned and service.holder == VILLAGE
    assert isinstance(event, ServiceChanged)
    assert event.state == ServiceState.planned and event.units_planned == 6 and event.units_delivered == 0
    assert set(event.model_dump()) >= {"service_id", "case_id", "kind", "provider_id", "due_on"}
    # Late from the next midnight in China: the 21st at 00:00 +08:00 is the 20th at 16:00 UTC.
    assert service.escalate_at == datetime(2026, 12, 20, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"needs": ("living",)}, "the case's plan names no psychological need"),
        ({"kind": ServiceKind.legal_aid, "needs": ("legal",)}, "the provider does not give legal_aid"),
        (
            {"provider": Provider(**{**SOCIAL_WORK.__dict__, "territory": "140403"})},
            "the provider does not serve the case's territory",
        ),
        ({"due": date(2026, 12, 5)}, "the due date has passed"),
    ],
)
def test_a_service_the_plan_or_the_provider_cannot_carry_is_refused_in_words(kwargs, words) -> None:
    with pytest.raises(ServiceRefused, match=words):
        planned(**kwargs)


def test_units_then_delivery_with_an_outcome() -> None:
    service, _ = planned()
    service, accepted = provision.act(service, "accept", outcome=None, reason=None, by="sw-1", now=NOW)
    assert accepted.state == ServiceState.accepted
    for n in range(1, 4):
        service, event = provision.unit_delivered(service, by="sw-1", now=NOW)
        assert (event.state, event.units_delivered) == (ServiceState.in_progress, n)
    service, done = provision.act(
        service, "deliver", outcome=ServiceOutcome.need_met, reason=None, by="sw-1", now=NOW
    )
    assert (done.state, done.outcome, service.ended_at) == (ServiceState.delivered, "need_met", NOW)
    with pytest.raises(IllegalTransition, match="cannot record a unit of a service that is delivered"):
        provision.unit_delivered(service, by="sw-1", now=NOW)
    with pytest.raises(IllegalTransition, match="cannot withdraw a service that is delivered"):
        provision.withdraw(service, "no_longer_needed", by="cw-1", now=NOW)


def test_a_repeated_answer_changes_nothing_and_a_backward_one_is_refused() -> None:
    service, _ = planned()
    service, _ = provision.act(service, "start", outcome=None, reason=None, by="sw-1", now=NOW)
    same, event = provision.act(service, "start", outcome=None, reason=None, by="sw-1", now=NOW)
    assert (same, event) == (service, None)
    with pytest.raises(IllegalTransition, match="cannot accept a service that is in_progress"):
        provision.act(service, "accept", outcome=None, reason=None, by="sw-1", now=NOW)


def test_ending_says_how() -> None:
    service, _ = planned()
    with pytest.raises(ValueError, match="outcome is required"):
        provision.act(service, "deliver", outcome=None, reason=None, by="sw-1", now=NOW)
    with pytest.raises(ValueError, match="reason is required"):
        provision.act(service, "not_deliver", outcome=None, reason=None, by="sw-1", now=NOW)
    ended, event = provision.act(
        service, "not_deliver", outcome=None, reason="family_refused", by="sw-1", now=NOW
    )
    assert (event.state, event.reason) == (ServiceState.not_delivered, "family_refused")
    withdrawn, event = provision.withdraw(planned()[0], "no_longer_needed", by="cw-1", now=NOW)
    assert event.state == ServiceState.withdrawn
    assert provision.withdraw(withdrawn, "no_longer_needed", by="cw-1", now=NOW)[1] is None


def test_an_overdue_service_climbs_the_territory_one_grace_at_a_time_and_stops_at_the_city() -> None:
    service, _ = planned()
    later = service.escalate_at + timedelta(minutes=1)
    holders = []
    while (moved := provision.escalate(service, later, timedelta(days=3))) is not None:
        service, event = moved
        holders.append(event.to_jurisdiction)
        assert service.escalate_at == later + timedelta(days=3)
    assert holders == ["140402001000", "140402000000", "140400000000"]
    assert service.escalations == 3
    delivered, _ = provision.act(
        planned()[0], "deliver", outcome=ServiceOutcome.need_met, reason=None, by="sw-1", now=NOW
    )
    assert provision.escalate(delivered, later, timedelta(days=3)) is None, "an ended service stays put"


def test_a_guardianship_lawsuit_is_recorded_step_by_step_in_the_courts_order() -> None:
    lawyers = Provider(**{**SOCIAL_WORK.__dict__, "kinds": ("guardianship_transfer_lawsuit",)})
    service, _ = planned(kind=ServiceKind.guardianship_transfer_lawsuit, provider=lawyers, needs=("legal",))
    steps: list[provision.Step] = []
    days = [date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 30), date(2026, 12, 4)]
    with pytest.raises(IllegalTransition, match="the next step is application"):
        provision.step_taken(service, steps, LawsuitStep.hearing, on=days[0], result=None, by="lw-1", now=NOW)
    for step, day in zip(LawsuitStep, days, strict=True):
        result = JudgementResult.guardianship_transferred if step == LawsuitStep.judgement else None
        if step == LawsuitStep.judgement:
            with pytest.raises(ValueError, match="result is required with the judgement"):
                provision.step_taken(service, steps, step, on=day, result=None, by="lw-1", now=NOW)
            with pytest.raises(ValueError, match="cannot come before the hearing"):
                provision.step_taken(service, steps, step, on=days[1], result=result, by="lw-1", now=NOW)
        service, row, event = provision.step_taken(
            service, steps, step, on=day, result=result, by="lw-1", now=NOW
        )
        steps.append(row)
        assert (event.state, event.step, event.step_on) == (ServiceState.in_progress, step, day)
    assert event.result == JudgementResult.guardianship_transferred
    with pytest.raises(IllegalTransition, match="every step is recorded"):
        provision.step_taken(
            service, steps, LawsuitStep.judgement, on=days[3], result=None, by="lw-1", now=NOW
        )
    counselling, _ = planned()
    with pytest.raises(IllegalTransition, match="a counselling service has no steps"):
        provision.step_taken(
            counselling, [], LawsuitStep.application, on=days[0], result=None, by="lw-1", now=NOW
        )
