"""Tests of the event contracts: round trips, strict rejection of bad messages, the topic
registry and the exported schemas being up to date."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from shared.contracts import (
    EVENT_TYPES,
    TOPICS,
    AccessPurpose,
    Agency,
    CaseApprovalDecided,
    CaseApprovalRequested,
    CaseAssessed,
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseReassessmentRequested,
    CaseReopened,
    CaseReported,
    CaseReviewed,
    CaseTransferred,
    Category,
    Channel,
    ContractError,
    Envelope,
    EventPayload,
    FollowupClosureRuleMet,
    FollowupDue,
    FollowupOverdue,
    FollowupScheduled,
    FollowupVisitRecorded,
    HotlineReport,
    Indicator,
    Need,
    PersonalDataAccessed,
    PersonalField,
    PersonalRecord,
    ProviderKind,
    ReferralCreated,
    ReferralEscalated,
    ReferralResponded,
    ReferralState,
    ReferralStatusChanged,
    ReferralWithdrawn,
    RiskFactor,
    RiskLevel,
    Role,
    ServiceChanged,
    ServiceEscalated,
    ServiceKind,
    ServiceOutcome,
    ServiceState,
    Stage,
    TerritoryLevel,
    dlq_topic,
    is_within,
    new_envelope,
    parse_event,
    referral_topic,
    territory_level,
    topic_for_event,
)
from shared.contracts.events import (
    ActionItemChanged,
    ActionItemEscalated,
    ChildLinked,
    ChildLinkUndone,
    ConsentChanged,
    ConsentWithdrawn,
    MeetingDecided,
    ServiceComplaint,
)
from shared.contracts.export import render, schema_documents
from shared.contracts.screening import ScreeningRecord
from shared.contracts.vocabulary import (
    ActionItemState,
    ActionTask,
    ComplaintFinding,
    ComplaintKind,
    ComplaintSource,
    ConsentGiver,
    ConsentKind,
    ConsentWay,
    IdentificationReason,
    LinkUndoReason,
    MeetingDecision,
    ReopenReason,
    ScreenOutReason,
    SharingParty,
    TransferReason,
    WithdrawalReason,
)

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"

CASE_ID = UUID("00000000-0000-4000-8000-000000000001")
REFERRAL_ID = UUID("00000000-0000-4000-8000-000000000002")
PLAN_ID = UUID("00000000-0000-4000-8000-000000000003")
VISIT_ID = UUID("00000000-0000-4000-8000-000000000004")
CHILD_REF = UUID("00000000-0000-4000-8000-000000000005")
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
VILLAGE = "140402001001"
TOWNSHIP = "140402001000"
COUNTY = "140402000000"


def sample_payloads() -> list[EventPayload]:
    """One valid payload of every event type."""
    return [
        CaseReported(
            case_id=CASE_ID,
            report_id=uuid4(),
            child_ref=uuid4(),
            external_id="HL-2026-000123",
            channel=Channel.hotline,
            jurisdiction=VILLAGE,
            age_years=10,
            categories=[Category.abuse],
            indicators=[Indicator.immediate_danger, Indicator.visible_injury],
            earlier_reports=0,
            reported_at=NOW,
            case_number="140402-2026-00123",
        ),
        CaseAssessed(
            case_id=CASE_ID,
            assessment_id=uuid4(),
            jurisdiction="140402001001",
            categories=[Category.abuse],
            risk_level=RiskLevel.red,
            initial_risk_level=RiskLevel.red,
            overridden=False,
            score=100,
            factors=[RiskFactor(code="immediate_danger", weight=100, explanation="Forces red.")],
            rule_set_version="2026.1",
            needs=[Need.guardianship, Need.legal],
            emergency=True,
            response_due_at=NOW + timedelta(hours=24),
            stage=Stage.written_review,
        ),
        CaseReassessmentRequested(
            case_id=CASE_ID,
            visit_id=VISIT_ID,
            indicators=[Indicator.psychological_distress],
            unmet_needs=[Need.psychological],
            reason="new_indicators",
            requested_at=NOW,
        ),
        CaseClosed(case_id=CASE_ID, reason="risk_resolved", closed_at=NOW),
        CaseReopened(
            case_id=CASE_ID,
            reason=ReopenReason.new_risk,
            reopened_by="cw-7",
            approved_by="sup-1",
            approval_id=uuid4(),
            risk_level=RiskLevel.red,
            stage=Stage.monitoring,
            closed_at=NOW - timedelta(days=3),
            reopened_at=NOW,
        ),
        CaseAssigned(
            case_id=CASE_ID,
            jurisdiction="140402001001",
            owner_node="140402001000",
            owner_ref="cw-7",
            previous_owner_ref="cw-3",
            assigned_by="sup-1",
            reason="workload",
            assigned_at=NOW,
        ),
        CaseReviewed(
            case_id=CASE_ID,
            decision="screened_out",
            reason=ScreenOutReason.unfounded,
            risk_level=RiskLevel.red,
            reviewed_by="cw-7",
            approved_by="sup-1",
            reviewed_at=NOW,
            stage=Stage.closed,
        ),
        CaseApprovalRequested(
            approval_id=uuid4(),
            case_id=CASE_ID,
            kind="close",
            reason="turned_18",
            jurisdiction="140402001001",
            requested_by="cw-7",
            requested_at=NOW,
        ),
        CaseApprovalRequested(
            approval_id=uuid4(),
            case_id=CASE_ID,
            kind="transfer",
            reason="family_moved",
            jurisdiction="140402001001",
            to_jurisdiction="140403100201",
            requested_by="cw-7",
            requested_at=NOW,
        ),
        CaseTransferred(
            case_id=CASE_ID,
            approval_id=uuid4(),
            from_jurisdiction="140402001001",
            jurisdiction="140403100201",
            reason=TransferReason.family_moved,
            requested_by="cw-7",
            accepted_by="sup-2",
            transferred_at=NOW,
        ),
        ChildLinked(
            case_id=CASE_ID,
            link_id=uuid4(),
            provisional_ref=uuid4(),
            child_ref=CHILD_REF,
            merged_child_ref=uuid4(),
            surviving_case_id=uuid4(),
            jurisdiction="140402001001",
            linked_at=NOW,
            reason=IdentificationReason.later_report,
            linked_by="cw-7",
        ),
        ChildLinkUndone(
            case_id=CASE_ID,
            link_id=uuid4(),
            provisional_ref=CHILD_REF,
            child_ref=CHILD_REF,
            surviving_case_id=CASE_ID,
            jurisdiction="140402001001",
            linked_at=NOW,
            reason=LinkUndoReason.wrong_child,
            undone_by="sup-1",
            undone_at=NOW,
        ),
        CaseApprovalDecided(
            approval_id=uuid4(),
            case_id=CASE_ID,
            kind="close",
            approved=False,
            reason="needs_more_visits",
            decided_by="sup-1",
            decided_at=NOW,
        ),
        FollowupClosureRuleMet(
            case_id=CASE_ID, plan_id=uuid4(), visit_id=uuid4(), risk_level=RiskLevel.blue, met_at=NOW
        ),
        CaseEscalated(
            case_id=CASE_ID,
            reason="review_overdue",
            risk_level=RiskLevel.red,
            jurisdiction="140402001001",
            to_jurisdiction="140402000000",
            to_level=TerritoryLevel.county,
            due_at=NOW,
            escalated_at=NOW,
        ),
        ReferralCreated(
            referral_id=REFERRAL_ID,
            case_id=CASE_ID,
            agency=Agency.police,
            risk_level=RiskLevel.red,
            emergency=True,
            categories=[Category.abuse],
            needs=[Need.legal],
            jurisdiction=VILLAGE,
            ack_due_at=NOW + timedelta(hours=1),
            details_url=f"https://referral.example/referrals/{REFERRAL_ID}",
            stage=Stage.services,
        ),
        ReferralResponded(
            referral_id=REFERRAL_ID,
            case_id=CASE_ID,
            agency=Agency.police,
            action="complete",
            outcome="not_successful",
            reason="family_moved_away",
            responded_at=NOW,
            responder_ref="police-user-17",
        ),
        ReferralStatusChanged(
            referral_id=REFERRAL_ID,
            case_id=CASE_ID,
            agency=Agency.police,
            state=ReferralState.acknowledged,
            changed_at=NOW,
            stage=Stage.services,
        ),
        ReferralWithdrawn(
            referral_id=REFERRAL_ID,
            case_id=CASE_ID,
            agency=Agency.police,
            reason=WithdrawalReason.no_longer_needed,
            withdrawn_by="cw-7",
            withdrawn_at=NOW,
            case_number="140402-2026-00123",
        ),
        ReferralEscalated(
            referral_id=REFERRAL_ID,
            case_id=CASE_ID,
            agency=Agency.education,
            from_jurisdiction=TOWNSHIP,
            to_jurisdiction=COUNTY,
            to_level=TerritoryLevel.county,
            ack_due_at=NOW + timedelta(hours=24),
            escalated_at=NOW,
        ),
        ServiceChanged(
            service_id=REFERRAL_ID,
            case_id=CASE_ID,
            kind=ServiceKind.counselling,
            provider_id=PLAN_ID,
            provider_kind=ProviderKind.social_work_organisation,
            state=ServiceState.delivered,
            outcome=ServiceOutcome.need_met,
            units_delivered=6,
            units_planned=6,
            due_on=NOW.date(),
            jurisdiction=VILLAGE,
            changed_at=NOW,
            changed_by="sw-3",
            stage=Stage.services,
        ),
        ServiceEscalated(
            service_id=REFERRAL_ID,
            case_id=CASE_ID,
            kind=ServiceKind.legal_aid,
            provider_id=PLAN_ID,
            due_on=NOW.date(),
            from_jurisdiction=TOWNSHIP,
            to_jurisdiction=COUNTY,
            to_level=TerritoryLevel.county,
            escalated_at=NOW,
        ),
        ServiceComplaint(
            complaint_id=VISIT_ID,
            service_id=REFERRAL_ID,
            case_id=CASE_ID,
            provider_id=PLAN_ID,
            kind=ComplaintKind.late,
            made_by=ComplaintSource.family,
            received_on=NOW.date(),
            finding=ComplaintFinding.upheld,
            handled_on=NOW.date(),
            jurisdiction=VILLAGE,
            changed_by="sup-1",
            changed_at=NOW,
        ),
        MeetingDecided(
            meeting_id=PLAN_ID,
            case_id=CASE_ID,
            decision=MeetingDecision.assign_department,
            held_on=NOW.date(),
            convened_at=COUNTY,
            present=[Agency.education, Agency.civil_affairs],
            jurisdiction=VILLAGE,
            decided_by="sup-1",
            decided_at=NOW,
        ),
        ActionItemChanged(
            action_item_id=VISIT_ID,
            meeting_id=PLAN_ID,
            case_id=CASE_ID,
            agency=Agency.education,
            task=ActionTask.school_enrolment,
            due_on=NOW.date(),
            state=ActionItemState.open,
            jurisdiction=VILLAGE,
            changed_by="sup-1",
            changed_at=NOW,
        ),
        ActionItemEscalated(
            action_item_id=VISIT_ID,
            meeting_id=PLAN_ID,
            case_id=CASE_ID,
            agency=Agency.education,
            task=ActionTask.school_enrolment,
            due_on=NOW.date(),
            from_jurisdiction=TOWNSHIP,
            to_jurisdiction=COUNTY,
            to_level=TerritoryLevel.county,
            escalations=1,
            escalated_at=NOW,
        ),
        ConsentChanged(
            consent_id=PLAN_ID,
            case_id=CASE_ID,
            kind=ConsentKind.consent,
            given_by=ConsentGiver.guardian,
            way=ConsentWay.written,
            parties=[SharingParty.social_work_organisation, SharingParty.education],
            given_on=NOW.date(),
            jurisdiction=VILLAGE,
            recorded_by="cw-2",
            changed_at=NOW,
        ),
        ConsentWithdrawn(
            consent_id=PLAN_ID,
            case_id=CASE_ID,
            agency=Agency.education,
            jurisdiction=VILLAGE,
            withdrawn_on=NOW.date(),
            withdrawn_at=NOW,
        ),
        FollowupScheduled(
            case_id=CASE_ID,
            plan_id=PLAN_ID,
            risk_level=RiskLevel.orange,
            cadence_days=14,
            next_visit_due_at=NOW + timedelta(days=14),
        ),
        FollowupDue(case_id=CASE_ID, plan_id=PLAN_ID, visit_due_at=NOW, jurisdiction=VILLAGE),
        FollowupOverdue(case_id=CASE_ID, plan_id=PLAN_ID, visit_due_at=NOW, jurisdiction=VILLAGE),
        FollowupVisitRecorded(
            case_id=CASE_ID,
            visit_id=VISIT_ID,
            visited_at=NOW,
            visitor_ref="worker-3",
            indicators=[],
            needs_met=[Need.living],
            needs_unmet=[],
            risk_found=False,
            stage=Stage.monitoring,
        ),
        PersonalDataAccessed(
            access_id=uuid4(),
            case_id=CASE_ID,
            child_ref=UUID("00000000-0000-4000-8000-000000000005"),
            record=PersonalRecord.child_details,
            action="read",
            outcome="shown",
            fields=[PersonalField.name, PersonalField.address, PersonalField.narratives],
            purpose=AccessPurpose.protection_action,
            accessor_ref="police-user-17",
            accessor_role=Role.agency_officer,
            agency=Agency.police,
            referral_id=REFERRAL_ID,
            jurisdiction=VILLAGE,
            accessed_at=NOW,
        ),
    ]


def event_json(payload: EventPayload) -> dict[str, Any]:
    return json.loads(new_envelope(payload, case_id=CASE_ID, producer="test").to_json())


def with_payload(payload: EventPayload, **changes: Any) -> bytes:
    event = event_json(payload)
    event["payload"].update(changes)
    return json.dumps(event).encode()


def sample(payload_type: type[EventPayload]) -> EventPayload:
    return next(p for p in sample_payloads() if type(p) is payload_type)


# --- the envelope ------------------------------------------------------------------------


def test_samples_cover_every_event_type() -> None:
    assert {(p.EVENT_TYPE, p.SCHEMA_VERSION) for p in sample_payloads()} == set(EVENT_TYPES)


@pytest.mark.parametrize("payload", sample_payloads(), ids=lambda p: p.EVENT_TYPE)
def test_every_event_round_trips_through_json(payload: EventPayload) -> None:
    event = new_envelope(payload, case_id=CASE_ID, producer="test")
    assert parse_event(event.to_json()) == event
    assert parse_event(event.to_json().decode()) == event
    assert type(parse_event(event.to_json()).payload) is type(payload)


def test_new_envelope_continues_the_causal_chain() -> None:
    reported, assessed = sample(CaseReported), sample(CaseAssessed)
    first = new_envelope(reported, case_id=CASE_ID, producer="intake")
    second = new_envelope(assessed, case_id=CASE_ID, producer="assessment", causation=first)
    assert first.causation_id is None
    assert second.causation_id == first.event_id
    assert second.correlation_id == first.correlation_id
    assert (second.event_type, second.schema_version) == ("case.assessed", 1)
    assert second.occurred_at.tzinfo is not None
    with pytest.raises(ContractError):
        new_envelope(assessed, case_id=CASE_ID, producer="x", causation=first, correlation_id=uuid4())


def test_envelope_must_agree_with_its_payload() -> None:
    with pytest.raises(ValidationError, match="case_id"):
        new_envelope(sample(CaseClosed), case_id=uuid4(), producer="test")
    event = event_json(sample(CaseClosed))
    with pytest.raises(ValidationError, match="envelope says case.reported"):
        Envelope[CaseClosed].model_validate_json(json.dumps({**event, "event_type": "case.reported"}))


def test_times_are_normalised_to_utc_and_must_carry_a_zone() -> None:
    east_eight = timezone(timedelta(hours=8))
    closed_at = datetime(2026, 11, 29, 11, tzinfo=east_eight)
    closed = CaseClosed(case_id=CASE_ID, reason="risk_resolved", closed_at=closed_at)
    assert closed.closed_at == NOW and closed.closed_at.tzinfo is UTC
    with pytest.raises(ValidationError):
        parse_event(with_payload(closed, closed_at="2026-11-29T03:00:00"))
    event = event_json(closed) | {"occurred_at": "2026-11-29T03:00:00"}
    with pytest.raises(ValidationError, match="occurred_at"):
        parse_event(json.dumps(event))


def test_unknown_event_type_or_version_is_a_contract_error() -> None:
    event = event_json(sample(CaseClosed))
    with pytest.raises(ContractError, match="unknown event type 'case.archived'"):
        parse_event(json.dumps(event | {"event_type": "case.archived"}))
    with pytest.raises(ContractError, match=r"known versions: \[1\]"):
        parse_event(json.dumps(event | {"schema_version": 2}))


def test_malformed_envelopes_are_rejected() -> None:
    event = event_json(sample(CaseClosed))
    bad_envelopes = [
        b"not json",
        json.dumps(event | {"tenant": "x"}),
        json.dumps(event | {"schema_version": "1"}),
        json.dumps(event | {"event_id": "not-a-uuid"}),
        json.dumps({k: v for k, v in event.items() if k != "correlation_id"}),
    ]
    for raw in bad_envelopes:
        with pytest.raises(ValidationError):
            parse_event(raw)


# --- payloads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload_type", "changes"),
    [
        (CaseReported, {"child_name": "Li"}),
        (CaseReported, {"earlier_reports": "3"}),
        (CaseReported, {"earlier_reports": True}),
        (CaseReported, {"earlier_reports": -1}),
        (CaseReported, {"age_years": 18}),
        (CaseReported, {"categories": []}),
        (CaseReported, {"categories": ["homeless"]}),
        (CaseReported, {"indicators": ["bad_weather"]}),
        (CaseReported, {"channel": "carrier_pigeon"}),
        (CaseReported, {"jurisdiction": "14040200100"}),
        (CaseReported, {"jurisdiction": "14040200100a"}),
        (CaseReported, {"jurisdiction": 140402001001}),
        (CaseReported, {"stage": "written_review"}),
        (CaseReported, {"external_id": "HL 2026/123"}),
        (CaseReported, {"child_ref": "child-1"}),
        (CaseAssessed, {"risk_level": "purple"}),
        (CaseAssessed, {"score": 1.5}),
        (CaseAssessed, {"factors": [{"code": "x", "weight": 1, "explanation": "y" * 201}]}),
        (CaseAssessed, {"risk_level": "blue"}),
        (CaseAssessed, {"overridden": True}),
        (CaseReassessmentRequested, {"reason": "The mother said she hits him"}),
        (ReferralCreated, {"agency": "fire_brigade"}),
        (ReferralCreated, {"details_url": "referral-service/referrals/1"}),
        (ReferralResponded, {"outcome": None}),
        (ReferralResponded, {"reason": None}),
        (ReferralResponded, {"action": "acknowledge"}),
        (ReferralResponded, {"action": "decline", "outcome": None, "reason": None}),
        (ReferralStatusChanged, {"state": "done"}),
        (ReferralStatusChanged, {"state": "declined"}),
        (ReferralEscalated, {"to_level": "city"}),
        (ReferralEscalated, {"to_jurisdiction": "140403000000"}),
        (ReferralEscalated, {"to_jurisdiction": TOWNSHIP, "to_level": "township"}),
        (FollowupScheduled, {"cadence_days": 0}),
        (FollowupScheduled, {"cadence_days": "7"}),
        (FollowupVisitRecorded, {"notes": "all well"}),
        # An access record names fields and purposes from the vocabulary, never values.
        (PersonalDataAccessed, {"fields": ["Wang Xiaoming"]}),
        (PersonalDataAccessed, {"purpose": "curiosity"}),
        (PersonalDataAccessed, {"purpose": None}),
        (PersonalDataAccessed, {"accessor_ref": "Officer Li Wei"}),
        # An agency reads only through a referral addressed to it; nobody else claims one.
        (PersonalDataAccessed, {"referral_id": None}),
        (PersonalDataAccessed, {"agency": None}),
        (PersonalDataAccessed, {"accessor_role": "caseworker"}),
        (PersonalDataAccessed, {"accessor_role": "caseworker", "agency": None}),
        # A refusal says why, shows nothing, and names no entitling referral.
        (PersonalDataAccessed, {"outcome": "refused"}),
        (PersonalDataAccessed, {"outcome": "refused", "refusal": "no_open_referral"}),
        (PersonalDataAccessed, {"outcome": "refused", "refusal": "no_open_referral", "fields": []}),
        (PersonalDataAccessed, {"refusal": "no_open_referral"}),
    ],
)
def test_bad_payloads_are_rejected(payload_type: type[EventPayload], changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_event(with_payload(sample(payload_type), **changes))


def test_supervisor_override_keeps_both_grades() -> None:
    raw = with_payload(
        sample(CaseAssessed),
        risk_level="orange",
        overridden=True,
        override_reason="caregiver_returned",
    )
    payload = parse_event(raw).payload
    assert (payload.risk_level, payload.initial_risk_level) == (RiskLevel.orange, RiskLevel.red)


def test_python_construction_is_strict_too() -> None:
    with pytest.raises(ValidationError):
        CaseClosed(case_id=str(CASE_ID), reason="risk_resolved", closed_at=NOW)
    with pytest.raises(ValidationError):
        FollowupDue(
            case_id=CASE_ID,
            plan_id=PLAN_ID,
            visit_due_at=NOW.replace(tzinfo=None),
            jurisdiction=VILLAGE,
        )


# --- topics ------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", sample_payloads(), ids=lambda p: p.EVENT_TYPE)
def test_every_event_travels_on_a_registered_topic(payload: EventPayload) -> None:
    topic = TOPICS[topic_for_event(payload)]
    assert payload.EVENT_TYPE in topic.event_types
    assert not topic.dead_letter and not topic.personal_data


def test_each_agency_has_its_referral_topic() -> None:
    for agency in Agency:
        payload = sample(ReferralCreated).model_copy(update={"agency": agency})
        assert topic_for_event(payload) == referral_topic(agency) == f"referral.to.{agency}"
        assert TOPICS[referral_topic(agency)].event_types == (
            "referral.created",
            "referral.withdrawn",
            "consent.withdrawn",
        )
        assert TOPICS[referral_topic(agency)].writers == ("referral", "intake")
        withdrawal = sample(ReferralWithdrawn).model_copy(update={"agency": agency})
        assert topic_for_event(withdrawal) == referral_topic(agency)


def test_every_topic_has_a_dead_letter_topic() -> None:
    for topic in TOPICS.values():
        if not topic.dead_letter:
            dead_letter = TOPICS[dlq_topic(topic.name)]
            assert dead_letter.dead_letter and dead_letter.name == f"{topic.name}.dlq"
            assert dead_letter.personal_data == topic.personal_data


def test_topic_registry_names_only_known_messages() -> None:
    known = {event_type for event_type, _ in EVENT_TYPES} | {
        HotlineReport.EVENT_TYPE,
        ScreeningRecord.EVENT_TYPE,
    }
    assert {t for topic in TOPICS.values() for t in topic.event_types} == known
    assert {name for name, topic in TOPICS.items() if topic.personal_data} == {
        "intake.reports.raw",
        "intake.reports.raw.dlq",
        "intake.screening.raw",
        "intake.screening.raw.dlq",
    }
    assert all(topic.partitions >= 1 for topic in TOPICS.values())


# --- territory ---------------------------------------------------------------------------


def test_territory_levels_and_subtrees() -> None:
    assert territory_level("140000000000") == TerritoryLevel.province
    assert territory_level("140400000000") == TerritoryLevel.city
    assert territory_level(COUNTY) == TerritoryLevel.county
    assert territory_level(TOWNSHIP) == TerritoryLevel.township
    assert territory_level(VILLAGE) == TerritoryLevel.village
    assert is_within(VILLAGE, COUNTY) and is_within(VILLAGE, VILLAGE)
    assert not is_within(VILLAGE, "140403000000")
    assert not is_within(COUNTY, VILLAGE)


# --- the raw hotline report --------------------------------------------------------------

HOTLINE_EXAMPLE: dict[str, Any] = {
    "schema_version": 1,
    "external_id": "HL-2026-000123",
    "channel": "hotline",
    "received_at": "2026-11-29T03:00:00Z",
    "reporter": {
        "role": "neighbour",
        "name": "Wang Fang",
        "phone": "13800000000",
        "anonymous": False,
    },
    "child": {
        "name": "Li Ming",
        "national_id": "140402201605010011",
        "sex": "F",
        "birth_date": "2016-05-01",
        "age_estimate": None,
        "address": "3 Example Lane",
        "school": "Example Primary School",
    },
    "jurisdiction": "140402001001",
    "categories": ["abuse"],
    "indicators": ["immediate_danger", "visible_injury"],
    "narrative": "The neighbour heard shouting and saw bruises.",
}


def hotline(**changes: Any) -> str:
    report = json.loads(json.dumps(HOTLINE_EXAMPLE))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = report
        for parent in parents:
            target = target[parent]
        if value is ...:
            del target[leaf]
        else:
            target[leaf] = value
    return json.dumps(report)


def test_the_hotline_example_validates() -> None:
    report = HotlineReport.model_validate_json(hotline())
    assert report.received_at == NOW
    assert report.child.birth_date.isoformat() == "2016-05-01"
    assert report.indicators == [Indicator.immediate_danger, Indicator.visible_injury]


def test_an_anonymous_report_validates() -> None:
    report = HotlineReport.model_validate_json(hotline(reporter={"role": "neighbour", "anonymous": True}))
    assert report.reporter.name is None and report.reporter.phone is None


def test_a_child_identified_by_name_and_age_validates() -> None:
    raw = hotline(child__national_id=..., child__birth_date=None, child__age_estimate=9)
    assert HotlineReport.model_validate_json(raw).child.age_estimate == 9


@pytest.mark.parametrize(
    "changes",
    [
        {"child__national_id": None, "child__name": None},
        {"child__national_id": ..., "child__birth_date": None},
    ],
)
def test_an_unidentifiable_child_is_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="child must be identified by national_id"):
        HotlineReport.model_validate_json(hotline(**changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"reporter__anonymous": True},
        {"caller_id": "x"},
        {"schema_version": 2},
        {"narrative": "x" * 10_001},
        {"child__name": "x" * 201},
        {"child__sex": "female"},
        {"child__national_id": "1404"},
        {"received_at": "2026-11-29T03:00:00"},
        {"jurisdiction": "1404"},
        {"categories": []},
    ],
)
def test_bad_hotline_reports_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HotlineReport.model_validate_json(hotline(**changes))


# --- exported schemas --------------------------------------------------------------------


def test_exported_schemas_are_up_to_date() -> None:
    fix = "run `python -m shared.contracts.export` and commit schemas/"
    expected = schema_documents()
    present = {path.name for path in SCHEMAS_DIR.glob("*.json")}
    assert present == set(expected), (
        f"schemas/ is out of step with the contracts (missing {set(expected) - present}, "
        f"stale {present - set(expected)}): delete stale files and {fix}"
    )
    for file_name, schema in expected.items():
        text = (SCHEMAS_DIR / file_name).read_text(encoding="utf-8")
        assert text == render(schema), f"schemas/{file_name} is stale: {fix}"


# --- stages ------------------------------------------------------------------------------


def test_a_case_stage_only_moves_forward() -> None:
    from shared.contracts.vocabulary import advance_stage

    assert advance_stage(None, Stage.written_review) is Stage.written_review
    assert advance_stage("plan", Stage.written_review) is Stage.plan, "a late report does not undo a plan"
    assert advance_stage(Stage.needs_assessment, Stage.services) is Stage.services
    assert advance_stage(Stage.closed, Stage.monitoring) is Stage.closed
    stages = list(Stage)
    for i, current in enumerate(stages):
        for j, target in enumerate(stages):
            assert advance_stage(current, target) is stages[max(i, j)]


def test_a_refused_access_is_recorded_with_its_reason_and_no_fields() -> None:
    refused = parse_event(
        with_payload(
            sample(PersonalDataAccessed),
            outcome="refused",
            refusal="no_open_referral",
            fields=[],
            referral_id=None,
        )
    )
    assert (refused.payload.outcome, refused.payload.refusal, refused.payload.fields) == (
        "refused",
        "no_open_referral",
        [],
    )
    assert refused.payload.agency is Agency.police, "the refused agency is named"


def test_an_agency_is_shown_data_by_one_entitlement_a_referral_or_a_joint_meetings_action_item() -> None:
    by_item = parse_event(
        with_payload(sample(PersonalDataAccessed), referral_id=None, action_item_id=str(VISIT_ID))
    )
    assert (by_item.payload.referral_id, by_item.payload.action_item_id) == (None, VISIT_ID)
    for referral_id, action_item_id in ((None, None), (str(REFERRAL_ID), str(VISIT_ID))):
        with pytest.raises(ValidationError, match="is required when an agency is shown data"):
            parse_event(
                with_payload(
                    sample(PersonalDataAccessed), referral_id=referral_id, action_item_id=action_item_id
                )
            )


def test_a_case_assignment_says_who_assigned_it_and_why_an_owner_was_replaced() -> None:
    station = {
        "case_id": CASE_ID,
        "jurisdiction": "140402001001",
        "owner_node": "140402001000",
        "assigned_at": NOW,
    }
    assert CaseAssigned(**station, owner_ref=None).assigned_by is None  # by rule, as the case opened
    with pytest.raises(ValidationError, match="assigned by a supervisor"):
        CaseAssigned(**station, owner_ref="cw-7")
    with pytest.raises(ValidationError, match="reason is required"):
        CaseAssigned(**station, owner_ref="cw-7", assigned_by="sup-1", previous_owner_ref="cw-3")
    with pytest.raises(ValidationError, match="ancestors"):
        CaseAssigned(**{**station, "owner_node": "140402002000"}, owner_ref=None)


def test_a_review_that_screens_out_says_why_and_a_grave_one_who_approved_it() -> None:
    review = {
        "case_id": CASE_ID,
        "risk_level": RiskLevel.red,
        "reviewed_by": "cw-7",
        "reviewed_at": NOW,
        "stage": Stage.closed,
    }
    with pytest.raises(ValidationError, match="reason is required"):
        CaseReviewed(**review, decision="screened_out", approved_by="sup-1")
    with pytest.raises(ValidationError, match="supervisor's approval"):
        CaseReviewed(**review, decision="screened_out", reason=ScreenOutReason.unfounded)
    with pytest.raises(ValidationError, match="reason is required"):
        CaseApprovalDecided(
            approval_id=uuid4(),
            case_id=CASE_ID,
            kind="close",
            approved=False,
            decided_by="sup-1",
            decided_at=NOW,
        )


def test_a_reopening_says_why_where_the_case_is_again_and_for_a_red_one_who_approved_it() -> None:
    reopened = {
        "case_id": CASE_ID,
        "reason": ReopenReason.closed_in_error,
        "reopened_by": "cw-7",
        "stage": Stage.plan,
        "closed_at": NOW - timedelta(hours=1),
        "reopened_at": NOW,
    }
    assert CaseReopened(**reopened, risk_level=RiskLevel.orange).approved_by is None
    with pytest.raises(ValidationError, match="supervisor's approval"):
        CaseReopened(**reopened, risk_level=RiskLevel.red)
    with pytest.raises(ValidationError, match="supervisor's approval"):
        CaseReopened(**reopened, risk_level=RiskLevel.blue, approved_by="sup-1")
    with pytest.raises(ValidationError, match="open case"):
        CaseReopened(**{**reopened, "stage": Stage.closed}, risk_level=None)
    with pytest.raises(ValidationError, match="after it closed"):
        CaseReopened(**{**reopened, "reopened_at": NOW - timedelta(days=1)}, risk_level=None)
    with pytest.raises(ValidationError, match="reason"):
        CaseReopened(**{**reopened, "reason": "felt_like_it"}, risk_level=None)


# --- a child nobody can name (contracts 1.8) ---------------------------------------------------

UNNAMED_BOY = {
    "name": None,
    "national_id": None,
    "birth_date": None,
    "sex": "M",
    "age_estimate": 7,
    "appearance": "bruised face, red jacket",
    "place_seen": "the courtyard next door",
}


def test_a_child_nobody_can_name_is_described_and_provisional() -> None:
    report = HotlineReport.model_validate_json(hotline(child=UNNAMED_BOY))
    assert report.child.provisional and report.child.appearance == UNNAMED_BOY["appearance"]
    assert not HotlineReport.model_validate_json(hotline()).child.provisional, (
        "the vendor's reports are as before"
    )


@pytest.mark.parametrize(
    ("changes", "loc", "message"),
    [
        ({"age_estimate": None}, ("child", "age_estimate"), "approximate age"),
        ({"appearance": None}, ("child",), "child must be identified by national_id"),
        ({"name": "小明", "age_estimate": None}, ("child",), "child must be identified by national_id"),
        ({"appearance": ""}, ("child", "appearance"), "at least 1 character"),
    ],
)
def test_a_child_nobody_can_name_needs_an_age_and_an_appearance(changes, loc, message) -> None:
    with pytest.raises(ValidationError) as error:
        HotlineReport.model_validate_json(hotline(child={**UNNAMED_BOY, **changes}))
    (problem,) = error.value.errors()
    assert problem["loc"] == loc and message in problem["msg"]


def test_a_screening_survey_names_every_child_it_counts() -> None:
    record = {
        "schema_version": 1,
        "external_id": "0123456789abcdef-2",
        "surveyed_at": "2026-11-29T03:00:00Z",
        "surveyor_ref": "s-1",
        "jurisdiction": "140402001001",
        "child": UNNAMED_BOY,
        "father": "migrant_work",
        "mother": "migrant_work",
        "caregiver": "grandparents",
        "school_status": "enrolled",
        "health": "healthy",
        "disability": "none",
        "categories": ["left_behind"],
        "indicators": [],
    }
    ScreeningRecord.model_validate_json(json.dumps({**record, "child": json.loads(hotline())["child"]}))
    with pytest.raises(ValidationError, match="a survey names every child it counts"):
        ScreeningRecord.model_validate_json(json.dumps(record))
