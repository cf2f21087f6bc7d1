"""Every event the pipeline publishes, version 1. Payloads carry no personal data: only
pseudonymous ids, jurisdiction codes, age in years, typed values, counts and timestamps."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from shared.contracts.envelope import ContractModel, EventPayload, register_event
from shared.contracts.vocabulary import (
    AccessPurpose,
    ActionItemState,
    ActionTask,
    Agency,
    CaseNumber,
    Category,
    Channel,
    ComplaintFinding,
    ComplaintKind,
    ComplaintSource,
    ConsentGiver,
    ConsentKind,
    ConsentWay,
    IdentificationReason,
    Indicator,
    JudgementResult,
    Jurisdiction,
    LawsuitStep,
    LinkUndoReason,
    MeetingDecision,
    Need,
    OpaqueRef,
    OverrideReason,
    PersonalField,
    PersonalRecord,
    ProviderKind,
    ReasonCode,
    ReferralState,
    ReopenReason,
    RiskLevel,
    Role,
    ScreenOutReason,
    ServiceKind,
    ServiceOutcome,
    ServiceState,
    SharingParty,
    Stage,
    TerritoryLevel,
    TransferReason,
    UtcDatetime,
    WithdrawalReason,
    is_within,
    territory_level,
)

ReferralAction = Literal["acknowledge", "start", "complete", "decline"]
"""An agency's answers to a referral; services/referral/lifecycle.py says where each leads."""
ReferralOutcome = Literal["successful", "not_successful"]


def _check_outcome(
    *, finished: bool, declined: bool, outcome: ReferralOutcome | None, reason: str | None
) -> None:
    """One rule for agencies' answers and referral states: a finished referral says how it
    went, and a decline or an unsuccessful end says why."""
    if finished != (outcome is not None):
        raise ValueError("outcome is required when the referral is completed, and only then")
    if (declined or outcome == "not_successful") and reason is None:
        raise ValueError("reason is required for a decline or a not_successful outcome")


def _up_the_tree(from_jurisdiction: str, to_jurisdiction: str, to_level: TerritoryLevel) -> None:
    """One rule for every escalation: it moves to an ancestor of where it was, at the level named."""
    if territory_level(to_jurisdiction) != to_level:
        raise ValueError("to_level does not match the level of to_jurisdiction")
    if to_jurisdiction == from_jurisdiction or not is_within(from_jurisdiction, to_jurisdiction):
        raise ValueError("to_jurisdiction must be an ancestor of from_jurisdiction")


# --- cases -------------------------------------------------------------------------------


@register_event
class CaseReported(EventPayload):
    """A report was accepted and a case opened or added to; the case is in screening."""

    EVENT_TYPE: ClassVar[str] = "case.reported"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.reported"

    case_id: UUID
    report_id: UUID
    child_ref: UUID = Field(description="Pseudonymous id of the child in intake's registry")
    external_id: OpaqueRef | None = Field(
        description="The reporting system's own id for the report, if it has one"
    )
    channel: Channel
    jurisdiction: Jurisdiction
    age_years: Annotated[int, Field(ge=0, le=17)] | None
    categories: Annotated[list[Category], Field(min_length=1)]
    indicators: list[Indicator]
    earlier_reports: Annotated[int, Field(ge=0)] = Field(
        description="How many reports about this child intake had already accepted"
    )
    stage: Literal[Stage.screening] = Stage.screening
    reported_at: UtcDatetime
    case_number: CaseNumber | None = Field(
        default=None, description="The number people say and write for the case (since contracts 1.7)"
    )


class RiskFactor(ContractModel):
    """One rule that contributed to a grade."""

    code: ReasonCode
    weight: int
    # Rule text comes from the versioned rule-set configuration, never from a case, so it
    # cannot carry personal data; the length cap keeps it that way.
    explanation: Annotated[str, StringConstraints(max_length=200)] = Field(
        description="The rule's text from the rule-set configuration; never case data"
    )


@register_event
class CaseAssessed(EventPayload):
    """A case was graded (or re-graded, or its grade overridden by a supervisor)."""

    EVENT_TYPE: ClassVar[str] = "case.assessed"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.assessed"

    case_id: UUID
    assessment_id: UUID
    # Referral routes by category and escalates up the territory tree; carrying both here
    # spares it from joining two topics whose relative order Kafka does not keep.
    jurisdiction: Jurisdiction
    categories: Annotated[list[Category], Field(min_length=1)]
    risk_level: RiskLevel = Field(description="The grade in force")
    initial_risk_level: RiskLevel = Field(description="The grade the rules produced")
    overridden: bool
    override_reason: ReasonCode | None = Field(
        default=None, description="Why a supervisor overrode the grade; set iff overridden"
    )
    score: int
    factors: list[RiskFactor]
    rule_set_version: OpaqueRef
    needs: list[Need]
    emergency: bool
    response_due_at: UtcDatetime
    stage: Stage
    case_number: CaseNumber | None = Field(
        default=None, description="The number people say and write for the case (since contracts 1.7)"
    )
    child_ref: UUID | None = Field(
        default=None,
        description="Pseudonymous id of the child in intake's registry, from the case's "
        "latest report (since contracts 1.8): the services that keep a case's notes name the child on the "
        "access ledger",
    )
    version: int | None = Field(
        default=None,
        ge=1,
        description="How many times the case has been graded, this grade included (since contracts 1.10): "
        "a stage that reads case.assessed in two lanes ignores one not newer than the grade it applied",
    )

    @model_validator(mode="after")
    def _override_is_explained(self) -> CaseAssessed:
        if self.overridden != (self.override_reason is not None):
            raise ValueError("override_reason is required when overridden, and only then")
        if not self.overridden and self.risk_level != self.initial_risk_level:
            raise ValueError("risk_level may differ from initial_risk_level only when overridden")
        return self


@register_event
class CaseReassessmentRequested(EventPayload):
    """Follow-up found new evidence and asks assessment to grade the case again."""

    EVENT_TYPE: ClassVar[str] = "case.reassessment_requested"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.reassessment_requested"

    case_id: UUID
    visit_id: UUID | None
    indicators: list[Indicator]
    unmet_needs: list[Need]
    reason: ReasonCode
    requested_at: UtcDatetime


@register_event
class CaseClosed(EventPayload):
    """A case was closed because its risk is resolved (or for another recorded reason)."""

    EVENT_TYPE: ClassVar[str] = "case.closed"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.closed"

    case_id: UUID
    reason: ReasonCode
    closed_at: UtcDatetime
    stage: Literal[Stage.closed] = Stage.closed


@register_event
class CaseReopened(EventPayload):
    """A person reopened a closed case, with the reason (since contracts 1.9): its owner or a supervisor
    of its territory — a red case (or one red when it closed) on a supervisor's approval. It is open again
    at the stage it had reached, with its owner, its written review due anew. (A new report reopens a case
    by `case.reported`, an undone link by `child.link_undone`.)"""

    EVENT_TYPE: ClassVar[str] = "case.reopened"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.reopened"

    case_id: UUID
    reason: ReopenReason
    reopened_by: OpaqueRef = Field(
        description="Pseudonymous id of who reopened it (who asked, when it was approved)"
    )
    approved_by: OpaqueRef | None = Field(
        default=None,
        description="The supervisor who approved reopening a red case (themselves, when a "
        "supervisor reopened it); set iff the case was red",
    )
    approval_id: UUID | None = Field(default=None, description="The request approved, if there was one")
    risk_level: RiskLevel | None = Field(
        description="The graver of the grade in force and the grade when it closed (null: never graded)"
    )
    stage: Stage = Field(description="The stage it is open at again: the one it had reached when it closed")
    closed_at: UtcDatetime = Field(description="The closure this reopening reverses")
    reopened_at: UtcDatetime

    @model_validator(mode="after")
    def _reopens(self) -> CaseReopened:
        if self.stage == Stage.closed:
            raise ValueError("a reopened case is at a stage of an open case")
        if self.reopened_at < self.closed_at:
            raise ValueError("a case is reopened after it closed")
        if (self.risk_level == RiskLevel.red) != (self.approved_by is not None):
            raise ValueError("reopening a red case needs a supervisor's approval (approved_by), and only it")
        if self.approval_id is not None and self.approved_by is None:
            raise ValueError("an approved request names its approver")
        return self


@register_event
class CaseAssigned(EventPayload):
    """A case has a new owner: the township station of its territory the moment casework learns
    of the case, then the caseworker a supervisor of that territory names."""

    EVENT_TYPE: ClassVar[str] = "case.assigned"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.assigned"

    case_id: UUID
    jurisdiction: Jurisdiction = Field(description="Where the child's case is")
    owner_node: Jurisdiction = Field(
        description="The station answerable for the case: the township node "
        "of its territory (or the node itself, above township)"
    )
    owner_ref: OpaqueRef | None = Field(
        description="Pseudonymous id of the caseworker who owns the case; null: the station, no one named yet"
    )
    previous_owner_ref: OpaqueRef | None = Field(
        default=None, description="The caseworker who owned it before, if any"
    )
    assigned_by: OpaqueRef | None = Field(
        default=None, description="The supervisor who assigned it; null: assigned by rule as the case opened"
    )
    reason: ReasonCode | None = Field(
        default=None, description="Why a named owner was replaced; set iff previous_owner_ref is"
    )
    assigned_at: UtcDatetime

    @model_validator(mode="after")
    def _reassignment_is_explained(self) -> CaseAssigned:
        if (self.previous_owner_ref is not None) != (self.reason is not None):
            raise ValueError("reason is required when a named owner is replaced, and only then")
        if (self.owner_ref is None) != (self.assigned_by is None):
            raise ValueError("a named owner is assigned by a supervisor; the station by rule")
        if not is_within(self.jurisdiction, self.owner_node):
            raise ValueError("owner_node must be the case's node or one of its ancestors")
        return self


ReviewDecision = Literal["screened_in", "screened_out"]
ApprovalKind = Literal["screen_out", "close", "transfer", "reopen"]


@register_event
class CaseReviewed(EventPayload):
    """The written review (书面审核) is recorded: the case is screened in (on to needs assessment) or
    screened out with a reason (then it closes)."""

    EVENT_TYPE: ClassVar[str] = "case.reviewed"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.reviewed"

    case_id: UUID
    decision: ReviewDecision
    reason: ScreenOutReason | None = Field(
        default=None, description="Why it was screened out; set iff it was"
    )
    risk_level: RiskLevel = Field(description="The grade in force when it was reviewed")
    reviewed_by: OpaqueRef = Field(description="Pseudonymous id of the user who reviewed it")
    approved_by: OpaqueRef | None = Field(
        default=None, description="The supervisor who approved screening out an orange or red case"
    )
    reviewed_at: UtcDatetime
    stage: Stage

    @model_validator(mode="after")
    def _screen_out_is_explained(self) -> CaseReviewed:
        if (self.decision == "screened_out") != (self.reason is not None):
            raise ValueError("reason is required when the case is screened out, and only then")
        if self.decision == "screened_out" and self.risk_level != RiskLevel.blue and self.approved_by is None:
            raise ValueError(
                "screening out an orange or red case needs a supervisor's approval (approved_by)"
            )
        return self


@register_event
class CaseApprovalRequested(EventPayload):
    """A caseworker asks a supervisor of the case's territory to approve what needs one: screening
    the case out, closing it, moving it to another territory or reopening a red case, with the reason."""

    EVENT_TYPE: ClassVar[str] = "case.approval_requested"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.approval_requested"

    approval_id: UUID
    case_id: UUID
    kind: ApprovalKind
    reason: ReasonCode = Field(description="Why: a screen-out, closure, transfer or reopening reason")
    jurisdiction: Jurisdiction = Field(
        description="Where the case is: whose supervisors decide (but for a transfer)"
    )
    to_jurisdiction: Jurisdiction | None = Field(
        default=None,
        description="A transfer's destination: whose supervisors accept or decline; set iff kind is transfer",
    )
    requested_by: OpaqueRef
    requested_at: UtcDatetime

    @model_validator(mode="after")
    def _transfer_names_its_destination(self) -> CaseApprovalRequested:
        if (self.kind == "transfer") != (self.to_jurisdiction is not None):
            raise ValueError("to_jurisdiction is required for a transfer, and only then")
        return self


@register_event
class CaseApprovalDecided(EventPayload):
    """A supervisor approved or rejected a request; a rejection says why."""

    EVENT_TYPE: ClassVar[str] = "case.approval_decided"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.approval_decided"

    approval_id: UUID
    case_id: UUID
    kind: ApprovalKind
    approved: bool
    reason: ReasonCode | None = Field(default=None, description="Why it was rejected; set iff rejected")
    decided_by: OpaqueRef
    decided_at: UtcDatetime

    @model_validator(mode="after")
    def _rejection_is_explained(self) -> CaseApprovalDecided:
        if self.approved == (self.reason is not None):
            raise ValueError("reason is required when a request is rejected, and only then")
        return self


@register_event
class CaseEscalated(EventPayload):
    """Casework raised a case to its county's supervisors: its written review is past its deadline,
    or it has been left with no owner or nothing due (a blind spot)."""

    EVENT_TYPE: ClassVar[str] = "case.escalated"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.escalated"

    case_id: UUID
    reason: Literal["review_overdue", "no_owner", "nothing_due"]
    risk_level: RiskLevel | None = Field(description="The grade in force (null: not graded yet)")
    jurisdiction: Jurisdiction = Field(description="Where the case is")
    to_jurisdiction: Jurisdiction = Field(description="Whose supervisors must act: the case's county")
    to_level: TerritoryLevel
    due_at: UtcDatetime | None = Field(
        default=None, description="The review's deadline; set iff review_overdue"
    )
    escalated_at: UtcDatetime

    @model_validator(mode="after")
    def _goes_to_an_ancestor(self) -> CaseEscalated:
        if territory_level(self.to_jurisdiction) != self.to_level:
            raise ValueError("to_level does not match the level of to_jurisdiction")
        if not is_within(self.jurisdiction, self.to_jurisdiction):
            raise ValueError("to_jurisdiction must be the case's node or one of its ancestors")
        if (self.reason == "review_overdue") != (self.due_at is not None):
            raise ValueError("due_at is required for an overdue review, and only then")
        return self


@register_event
class CaseTransferred(EventPayload):
    """A case moved to another territory (the child moved): the receiving territory's supervisor
    accepted it. From now on the case, its owner, its open referrals and its visits are the new
    territory's; the old one keeps the record of what it did."""

    EVENT_TYPE: ClassVar[str] = "case.transferred"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.transferred"

    case_id: UUID
    approval_id: UUID = Field(description="The request the receiving supervisor accepted")
    from_jurisdiction: Jurisdiction = Field(description="Where the case was")
    jurisdiction: Jurisdiction = Field(description="Where the case is now")
    reason: TransferReason
    requested_by: OpaqueRef
    accepted_by: OpaqueRef = Field(description="The receiving territory's supervisor")
    transferred_at: UtcDatetime

    @model_validator(mode="after")
    def _moves(self) -> CaseTransferred:
        if self.jurisdiction == self.from_jurisdiction:
            raise ValueError("a transfer moves the case to another territory")
        return self


# --- referrals ---------------------------------------------------------------------------


class _OnTheAgencysTopic(EventPayload):
    """An event that travels on the topic of the agency it names, `referral.to.<agency>`."""

    TOPIC: ClassVar[str] = "referral.to"  # a prefix: the agency's name follows

    @classmethod
    def topic_for(cls, payload: EventPayload) -> str:
        if not isinstance(payload, cls):
            raise TypeError(f"expected a {cls.__name__}, got {type(payload).__name__}")
        return f"{cls.TOPIC}.{payload.agency.value}"

    @classmethod
    def every_topic(cls) -> tuple[str, ...]:
        """Every agency's topic: where a consumer of these events listens."""
        return tuple(f"{cls.TOPIC}.{agency.value}" for agency in Agency)


@register_event
class ReferralCreated(_OnTheAgencysTopic):
    """A case was referred to an agency. Travels on the agency's own topic,
    `referral.to.<agency>`; details are fetched from `details_url` with the agency's
    own credentials."""

    EVENT_TYPE: ClassVar[str] = "referral.created"
    SCHEMA_VERSION: ClassVar[int] = 1

    referral_id: UUID
    case_id: UUID
    agency: Agency
    risk_level: RiskLevel
    emergency: bool
    categories: Annotated[list[Category], Field(min_length=1)]
    needs: list[Need]
    jurisdiction: Jurisdiction
    ack_due_at: UtcDatetime
    details_url: Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://[^\s]+$")] = Field(
        description="Where the agency fetches the case details, with its own credentials; holds ids only"
    )
    stage: Stage
    case_number: CaseNumber | None = Field(
        default=None, description="The number people say and write for the case (since contracts 1.7)"
    )


@register_event
class ReferralResponded(EventPayload):
    """An agency's answer to a referral addressed to it. Keyed by case_id like every event."""

    EVENT_TYPE: ClassVar[str] = "referral.responded"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "referral.responses"

    referral_id: UUID
    case_id: UUID
    agency: Agency
    action: ReferralAction
    outcome: ReferralOutcome | None = Field(
        default=None, description="Required when action is complete, and only then"
    )
    reason: ReasonCode | None = Field(
        default=None, description="Required for decline and for a not_successful outcome"
    )
    responded_at: UtcDatetime
    responder_ref: OpaqueRef = Field(description="Pseudonymous id of the agency user who answered")

    @model_validator(mode="after")
    def _outcome_matches_action(self) -> ReferralResponded:
        _check_outcome(
            finished=self.action == "complete",
            declined=self.action == "decline",
            outcome=self.outcome,
            reason=self.reason,
        )
        return self


@register_event
class ReferralStatusChanged(EventPayload):
    """A referral entered a new state; announced by referral for every change."""

    EVENT_TYPE: ClassVar[str] = "referral.status_changed"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "referral.status"

    referral_id: UUID
    case_id: UUID
    agency: Agency
    state: ReferralState
    outcome: ReferralOutcome | None = Field(
        default=None, description="Required when state is done, and only then"
    )
    reason: ReasonCode | None = Field(
        default=None, description="Required for declined, withdrawn and a not_successful outcome"
    )
    changed_at: UtcDatetime
    stage: Stage
    changed_by: OpaqueRef | None = Field(
        default=None,
        description="Pseudonymous id of who changed it: the agency's officer, or the "
        "caseworker or supervisor who withdrew it (since contracts 1.7)",
    )

    @model_validator(mode="after")
    def _outcome_matches_state(self) -> ReferralStatusChanged:
        _check_outcome(
            finished=self.state == ReferralState.done,
            declined=self.state in (ReferralState.declined, ReferralState.withdrawn),
            outcome=self.outcome,
            reason=self.reason,
        )
        return self


@register_event
class ReferralWithdrawn(_OnTheAgencysTopic):
    """The case's side ended a referral before the agency finished it, with a reason (the case
    closes, or the agency is not the right one). Travels on the agency's own topic beside its
    referrals, so the agency's kit learns to stop; `referral.status` says it to everyone else."""

    EVENT_TYPE: ClassVar[str] = "referral.withdrawn"
    SCHEMA_VERSION: ClassVar[int] = 1

    referral_id: UUID
    case_id: UUID
    agency: Agency
    reason: WithdrawalReason
    withdrawn_by: OpaqueRef = Field(description="Pseudonymous id of who withdrew it")
    withdrawn_at: UtcDatetime
    case_number: CaseNumber | None = None


@register_event
class ReferralEscalated(EventPayload):
    """A referral was not acknowledged in time and moved up the territory tree."""

    EVENT_TYPE: ClassVar[str] = "referral.escalated"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "referral.escalated"

    referral_id: UUID
    case_id: UUID
    agency: Agency
    from_jurisdiction: Jurisdiction
    to_jurisdiction: Jurisdiction
    to_level: TerritoryLevel
    ack_due_at: UtcDatetime
    escalated_at: UtcDatetime

    @model_validator(mode="after")
    def _goes_up_the_tree(self) -> ReferralEscalated:
        _up_the_tree(self.from_jurisdiction, self.to_jurisdiction, self.to_level)
        return self


# --- services of a case's plan (since contracts 1.11) ------------------------------------------


@register_event
class ServiceChanged(EventPayload):
    """A service of a case's assistance plan was planned for a provider, or entered a new state, or
    one more unit of it was delivered; announced by referral for every change. Codes and counts only:
    what people wrote stays sealed with referral."""

    EVENT_TYPE: ClassVar[str] = "service.changed"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "service.status"

    service_id: UUID
    case_id: UUID
    kind: ServiceKind
    provider_id: UUID
    provider_kind: ProviderKind
    state: ServiceState
    outcome: ServiceOutcome | None = Field(default=None, description="Required when delivered, and only then")
    reason: ReasonCode | None = Field(default=None, description="Required for not_delivered and withdrawn")
    units_delivered: int = Field(ge=0, description="Units given so far (sessions, months of an allowance)")
    units_planned: int | None = Field(default=None, ge=1)
    due_on: date = Field(description="The day by which it is to be delivered (China Standard Time)")
    jurisdiction: Jurisdiction = Field(description="The case's territory")
    changed_at: UtcDatetime
    changed_by: OpaqueRef | None = Field(default=None, description="Pseudonymous id of who changed it")
    stage: Stage
    step: LawsuitStep | None = Field(
        default=None, description="A lawsuit's step recorded with this change (guardianship_transfer_lawsuit)"
    )
    step_on: date | None = Field(default=None, description="The day of that step")
    result: JudgementResult | None = Field(
        default=None, description="What the court decided, with the judgement"
    )

    @model_validator(mode="after")
    def _ending_says_how(self) -> ServiceChanged:
        if (self.step is None) != (self.step_on is None):
            raise ValueError("step and step_on come together")
        if (self.step == LawsuitStep.judgement) != (self.result is not None):
            raise ValueError("result is required with the judgement, and only then")
        if (self.state == ServiceState.delivered) != (self.outcome is not None):
            raise ValueError("outcome is required when the service is delivered, and only then")
        if self.state in (ServiceState.not_delivered, ServiceState.withdrawn) and self.reason is None:
            raise ValueError("reason is required for a service not delivered or withdrawn")
        return self


@register_event
class ServiceEscalated(EventPayload):
    """A service still open past its due date moved up the territory tree: that node's supervisors
    answer for it now."""

    EVENT_TYPE: ClassVar[str] = "service.escalated"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "service.escalated"

    service_id: UUID
    case_id: UUID
    kind: ServiceKind
    provider_id: UUID
    due_on: date
    from_jurisdiction: Jurisdiction
    to_jurisdiction: Jurisdiction
    to_level: TerritoryLevel
    escalated_at: UtcDatetime

    @model_validator(mode="after")
    def _goes_up_the_tree(self) -> ServiceEscalated:
        _up_the_tree(self.from_jurisdiction, self.to_jurisdiction, self.to_level)
        return self


@register_event
class ServiceComplaint(EventPayload):
    """A complaint about a service was received, or the county found it upheld or not (监管评估): codes and
    days, announced by referral, which keeps what people wrote sealed."""

    EVENT_TYPE: ClassVar[str] = "service.complaint"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "service.complaints"

    complaint_id: UUID
    service_id: UUID
    case_id: UUID
    provider_id: UUID
    kind: ComplaintKind
    made_by: ComplaintSource
    received_on: date
    finding: ComplaintFinding | None = Field(default=None, description="Set once it is handled")
    handled_on: date | None = Field(default=None, description="Set with the finding")
    jurisdiction: Jurisdiction = Field(description="The case's territory")
    changed_by: OpaqueRef = Field(description="Pseudonymous id of who recorded this change")
    changed_at: UtcDatetime

    @model_validator(mode="after")
    def _handled_says_when(self) -> ServiceComplaint:
        if (self.finding is None) != (self.handled_on is None):
            raise ValueError("finding and handled_on come together")
        return self


# --- joint meetings (since contracts 1.13) --------------------------------------------------


@register_event
class MeetingDecided(EventPayload):
    """A joint meeting (联席会议) of departments decided what happens next for a case: who was there and
    what was decided, as codes; what was said stays sealed in referral's notes."""

    EVENT_TYPE: ClassVar[str] = "meeting.decision"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "meeting.decisions"

    meeting_id: UUID
    case_id: UUID
    decision: MeetingDecision
    held_on: date = Field(description="The day the meeting sat (China Standard Time)")
    convened_at: Jurisdiction = Field(description="The node whose meeting it was: a county's, or the city's")
    present: list[Agency] = Field(description="The departments that took part")
    jurisdiction: Jurisdiction = Field(description="The case's territory")
    decided_by: OpaqueRef = Field(description="Pseudonymous id of who recorded the decision")
    decided_at: UtcDatetime


@register_event
class ActionItemChanged(EventPayload):
    """An action item (督办事项) a joint meeting gave a department for a case was set, or its department
    marked it done: codes and days, announced by referral, which tracks it as it tracks referrals."""

    EVENT_TYPE: ClassVar[str] = "meeting.action_item"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "meeting.action_items"

    action_item_id: UUID
    meeting_id: UUID
    case_id: UUID
    agency: Agency = Field(description="The department that owns it")
    task: ActionTask
    due_on: date = Field(description="The day it is due (China Standard Time)")
    state: ActionItemState
    jurisdiction: Jurisdiction = Field(description="The case's territory")
    changed_by: OpaqueRef = Field(description="Pseudonymous id of who recorded this change")
    changed_at: UtcDatetime


@register_event
class ActionItemEscalated(EventPayload):
    """An action item still open after the day it was due moved up the territory tree, as a late
    referral or service does: that node's supervisors answer for it now (since contracts 1.14)."""

    EVENT_TYPE: ClassVar[str] = "meeting.action_item_escalated"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "meeting.action_items"

    action_item_id: UUID
    meeting_id: UUID
    case_id: UUID
    agency: Agency = Field(description="The department that owns it")
    task: ActionTask
    due_on: date = Field(description="The day it was due (China Standard Time)")
    from_jurisdiction: Jurisdiction
    to_jurisdiction: Jurisdiction
    to_level: TerritoryLevel
    escalations: int = Field(ge=1, description="How many levels it has climbed, this one included")
    escalated_at: UtcDatetime

    @model_validator(mode="after")
    def _goes_up_the_tree(self) -> ActionItemEscalated:
        _up_the_tree(self.from_jurisdiction, self.to_jurisdiction, self.to_level)
        return self


# --- consent and assent (since contracts 1.12) --------------------------------------------


@register_event
class ConsentChanged(EventPayload):
    """A consent to share a child's details with named kinds of agency or provider was recorded or
    withdrawn, or a supervisor overrode its absence; announced by intake, which keeps the record and its
    note. Codes and dates only: who gave it is a role (guardian, child), never a name."""

    EVENT_TYPE: ClassVar[str] = "consent.changed"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "case.consent"

    consent_id: UUID
    case_id: UUID
    kind: ConsentKind
    given_by: ConsentGiver | None = Field(
        default=None, description="Set for a consent or assent, not an override"
    )
    way: ConsentWay | None = Field(default=None, description="How it was given; set with given_by")
    reason: OverrideReason | None = Field(
        default=None, description="Why a supervisor overrode; set iff override"
    )
    parties: Annotated[list[SharingParty], Field(min_length=1)] = Field(
        description="The kinds of agency or provider the child's details may be shared with"
    )
    given_on: date = Field(description="The day it was given (China Standard Time)")
    withdrawn_on: date | None = Field(default=None, description="Set once it is withdrawn")
    jurisdiction: Jurisdiction = Field(description="The case's territory")
    recorded_by: OpaqueRef = Field(description="Pseudonymous id of who recorded this change")
    changed_at: UtcDatetime

    @model_validator(mode="after")
    def _says_whose(self) -> ConsentChanged:
        if (self.kind == ConsentKind.override) != (self.reason is not None):
            raise ValueError("reason is required for an override, and only then")
        if (self.kind == ConsentKind.override) != (self.given_by is None) or (self.given_by is None) != (
            self.way is None
        ):
            raise ValueError("given_by and way are required for a consent or assent, and only then")
        return self


@register_event
class ConsentWithdrawn(_OnTheAgencysTopic):
    """A consent that named this kind of agency was withdrawn: told on the agency's own topic beside its
    referrals, so its kit learns that the next read of the child's details is refused."""

    EVENT_TYPE: ClassVar[str] = "consent.withdrawn"
    SCHEMA_VERSION: ClassVar[int] = 1

    consent_id: UUID
    case_id: UUID
    agency: Agency
    jurisdiction: Jurisdiction
    withdrawn_on: date
    withdrawn_at: UtcDatetime
    case_number: CaseNumber | None = None


# --- follow-up ---------------------------------------------------------------------------


@register_event
class FollowupScheduled(EventPayload):
    """A visit plan was made or changed for a case."""

    EVENT_TYPE: ClassVar[str] = "followup.scheduled"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "followup.scheduled"

    case_id: UUID
    plan_id: UUID
    risk_level: RiskLevel
    cadence_days: Annotated[int, Field(ge=1)]
    next_visit_due_at: UtcDatetime


class _VisitDeadline(EventPayload):
    """Fields shared by the two deadline events of a visit plan."""

    case_id: UUID
    plan_id: UUID
    visit_due_at: UtcDatetime
    jurisdiction: Jurisdiction


@register_event
class FollowupDue(_VisitDeadline):
    """A follow-up visit is coming due."""

    EVENT_TYPE: ClassVar[str] = "followup.due"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "followup.due"


@register_event
class FollowupOverdue(_VisitDeadline):
    """A follow-up visit is past its due time without a recorded visit."""

    EVENT_TYPE: ClassVar[str] = "followup.overdue"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "followup.overdue"


@register_event
class FollowupVisitRecorded(EventPayload):
    """A follow-up visit took place and its findings were recorded."""

    EVENT_TYPE: ClassVar[str] = "followup.visit_recorded"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "followup.visits"

    case_id: UUID
    visit_id: UUID
    visited_at: UtcDatetime
    visitor_ref: OpaqueRef = Field(description="Pseudonymous id of the visiting worker")
    indicators: list[Indicator]
    needs_met: list[Need]
    needs_unmet: list[Need]
    risk_found: bool
    stage: Stage


@register_event
class FollowupClosureRuleMet(EventPayload):
    """A case meets follow-up's closure rule (blue, every referral done, the last visits clean);
    casework closes it."""

    EVENT_TYPE: ClassVar[str] = "followup.closure_rule_met"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "followup.closure"

    case_id: UUID
    plan_id: UUID
    visit_id: UUID = Field(description="The visit after which the rule was met")
    risk_level: RiskLevel
    met_at: UtcDatetime


# --- children nobody could name -------------------------------------------------------------


class _ChildLink(EventPayload):
    """A decision about a provisional child (one nobody could name when reported), keyed by the case
    it closes or reopens: ids only, never who the child is."""

    TOPIC: ClassVar[str] = "child.links"

    case_id: UUID = Field(
        description="The case merged away (casework closes it as a duplicate; undone, "
        "reopens it) when two children's cases became one; else the child's "
        "case"
    )
    link_id: UUID
    provisional_ref: UUID = Field(description="The provisional child the decision was about")
    child_ref: UUID = Field(description="The child that remains, its identity completed")
    merged_child_ref: UUID | None = Field(
        default=None,
        description="The child merged into child_ref; none when the provisional child was given its identity",
    )
    surviving_case_id: UUID = Field(
        description="The case that remains: every report of both is listed under it"
    )
    jurisdiction: Jurisdiction = Field(description="Where case_id is")
    linked_at: UtcDatetime

    @model_validator(mode="after")
    def _one_child_remains(self) -> _ChildLink:
        if self.merged_child_ref == self.child_ref:
            raise ValueError("merged_child_ref must differ from child_ref")
        if self.case_id != self.surviving_case_id and self.merged_child_ref is None:
            raise ValueError("a case is merged away only with its child (merged_child_ref)")
        return self


@register_event
class ChildLinked(_ChildLink):
    """A person identified a provisional child: linked it to the known child (one child, one case:
    the other case closes as a duplicate) or gave it its identity. Undone only by a supervisor."""

    EVENT_TYPE: ClassVar[str] = "child.linked"
    SCHEMA_VERSION: ClassVar[int] = 1

    reason: IdentificationReason
    linked_by: OpaqueRef


@register_event
class ChildLinkUndone(_ChildLink):
    """A supervisor undid an identification: two children and two cases again, as they were (the
    case merged away reopens; its agencies are referred again)."""

    EVENT_TYPE: ClassVar[str] = "child.link_undone"
    SCHEMA_VERSION: ClassVar[int] = 1

    reason: LinkUndoReason
    undone_by: OpaqueRef
    undone_at: UtcDatetime


# --- access to personal data -------------------------------------------------------------


@register_event
class PersonalDataAccessed(EventPayload):
    """Someone was shown (or changed) a child's personal data — in intake, or a case's notes in the
    service that keeps them — or asked to be and was refused. Says who, for which agency, which record
    and which fields, and why; never the data itself. Committed before the data leaves the service, so
    no read goes unrecorded."""

    EVENT_TYPE: ClassVar[str] = "access.recorded"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "audit.access"

    access_id: UUID
    case_id: UUID = Field(description="The case the read was made for (the child's latest case)")
    child_ref: UUID | None = Field(
        default=None,
        description="Pseudonymous id of the child in intake's registry: always set by "
        "intake; null only for a case's notes read in a service that has not yet heard which child the case "
        "is about (a case graded before contracts 1.8, until its next grade)",
    )
    record: PersonalRecord
    action: Literal["read", "update", "search", "export"] = Field(
        description="search: the reader named the child (fields) to find its child_ref and case; export "
        "(since 1.13): the fields went into a file that leaves the system (a password-protected archive)"
    )
    outcome: Literal["shown", "refused"] = Field(
        description="refused: the record exists but is not the reader's to see; nothing was shown"
    )
    refusal: ReasonCode | None = Field(
        default=None,
        description="Why it was refused (outside_territory, no_open_referral, other_agency); set iff refused",
    )
    fields: list[PersonalField] = Field(
        description="What the reader was shown or changed, by name; empty when refused"
    )
    purpose: AccessPurpose
    accessor_ref: OpaqueRef = Field(description="Pseudonymous id of the user who read")
    accessor_role: Role
    agency: Agency | None = Field(
        default=None, description="The reader's agency; set iff the reader is an agency officer"
    )
    referral_id: UUID | None = Field(
        default=None,
        description="The open referral that entitled the agency to read; set iff an agency "
        "was shown the data",
    )
    jurisdiction: Jurisdiction = Field(description="Where the child's case is")
    accessed_at: UtcDatetime
    provider_id: UUID | None = Field(
        default=None,
        description="The reader's provider; set iff the reader is a provider_worker (since 1.12)",
    )
    service_id: UUID | None = Field(
        default=None,
        description="The open service that entitled the provider to read; set iff a provider was shown "
        "the data",
    )
    consent_id: UUID | None = Field(
        default=None,
        description="The consent, or the supervisor's override, that let an agency or provider be shown the "
        "data; null for the case's own people and the police on an emergency (since 1.12)",
    )
    action_item_id: UUID | None = Field(
        default=None,
        description="The joint meeting's action item that entitled a department to read what the meeting "
        "asked of it and what it answered (instead of a referral; since 1.13)",
    )

    @model_validator(mode="after")
    def _agency_reads_by_referral(self) -> PersonalDataAccessed:
        if (self.accessor_role == Role.agency_officer) != (self.agency is not None):
            raise ValueError("agency is required for an agency_officer, and only then")
        if (self.accessor_role == Role.provider_worker) != (self.provider_id is not None):
            raise ValueError("provider_id is required for a provider_worker, and only then")
        if (self.provider_id is not None and self.outcome == "shown") != (self.service_id is not None):
            raise ValueError("service_id is required when a provider is shown data, and only then")
        shown = self.outcome == "shown"
        entitled = (self.referral_id is not None) + (self.action_item_id is not None)
        if entitled != (1 if self.agency is not None and shown else 0):
            raise ValueError(
                "referral_id (or action_item_id) is required when an agency is shown data, and only then"
            )
        if shown == (self.refusal is not None):
            raise ValueError("refusal is required when refused, and only then")
        if not shown and self.fields:
            raise ValueError("a refused access shows no fields")
        return self
