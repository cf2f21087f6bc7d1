"""The registry of Kafka topics: who produces each, what travels on it, how many
partitions it has, and its dead-letter twin."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from shared.contracts.envelope import EventPayload
from shared.contracts.events import (
    ActionItemChanged,
    ActionItemEscalated,
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
    ChildLinked,
    ChildLinkUndone,
    ConsentChanged,
    ConsentWithdrawn,
    FollowupClosureRuleMet,
    FollowupDue,
    FollowupOverdue,
    FollowupScheduled,
    FollowupVisitRecorded,
    MeetingDecided,
    PersonalDataAccessed,
    ReferralCreated,
    ReferralEscalated,
    ReferralResponded,
    ReferralStatusChanged,
    ReferralWithdrawn,
    ServiceChanged,
    ServiceComplaint,
    ServiceEscalated,
)
from shared.contracts.hotline import HotlineReport
from shared.contracts.screening import ScreeningRecord
from shared.contracts.vocabulary import Agency

# A dead-letter topic is written by whichever consumer of its origin topic gives up on a
# message, so it has no single producing service.
ANY_CONSUMER = "any-consumer"


@dataclass(frozen=True)
class Topic:
    """One Kafka topic. `owner` is the producing service, "hotline", "screening-import" or
    "agencies"; `also_written_by`, the other services that publish the same event on it."""

    name: str
    partitions: int
    owner: str
    event_types: tuple[str, ...]
    personal_data: bool = False
    dead_letter: bool = False
    also_written_by: tuple[str, ...] = ()

    @property
    def writers(self) -> tuple[str, ...]:
        return (self.owner, *self.also_written_by)


def referral_topic(agency: Agency) -> str:
    """The topic on which referrals to one kind of agency travel."""
    return f"{ReferralCreated.TOPIC}.{Agency(agency).value}"


def agency_groups(agency: Agency) -> tuple[str, str]:
    """The agency kit's consumer groups on its referral topic: the ordinary lane's, and the urgent
    lane's, which reads ahead for emergencies (cpnet/agency.py)."""
    group = f"agency.{Agency(agency).value}"
    return group, f"{group}.urgent"


def dlq_topic(name: str) -> str:
    """The dead-letter topic of a topic."""
    return f"{name}.dlq"


def topic_for_event(payload: EventPayload) -> str:
    """The topic a payload is published on."""
    return type(payload).topic_for(payload)


def _topic(
    payload_type: type[EventPayload] | type[HotlineReport] | type[ScreeningRecord],
    owner: str,
    *,
    partitions: int = 3,
    name: str | None = None,
    personal_data: bool = False,
) -> Topic:
    return Topic(
        name=name or payload_type.TOPIC,
        partitions=partitions,
        owner=owner,
        event_types=(payload_type.EVENT_TYPE,),
        personal_data=personal_data,
    )


def _dead_letter(origin: Topic) -> Topic:
    # Poison messages are rare and replayed by hand, so one partition is enough; a DLQ
    # keeps the origin's personal-data flag because it holds the origin's raw bytes.
    return Topic(
        name=dlq_topic(origin.name),
        partitions=1,
        owner=ANY_CONSUMER,
        event_types=origin.event_types,
        personal_data=origin.personal_data,
        dead_letter=True,
    )


def _all_topics() -> dict[str, Topic]:
    topics = [
        _topic(HotlineReport, "hotline", partitions=6, personal_data=True),
        # A county's whole survey, in its own lane: live reports never queue behind it.
        _topic(ScreeningRecord, "screening-import", partitions=6, personal_data=True),
        _topic(CaseReported, "intake", partitions=6),
        _topic(CaseAssessed, "assessment", partitions=6),
        _topic(CaseReassessmentRequested, "followup", partitions=6),
        # Casework closes cases: by follow-up's rule, on an approved request, or screened out.
        _topic(CaseClosed, "casework", partitions=6),
        # A person reopened a closed case: intake follows (one open case per child).
        _topic(CaseReopened, "casework", partitions=6),
        _topic(CaseAssigned, "casework", partitions=6),
        _topic(CaseReviewed, "casework", partitions=6),
        _topic(CaseApprovalRequested, "casework"),
        _topic(CaseApprovalDecided, "casework"),
        _topic(CaseEscalated, "casework"),
        _topic(CaseTransferred, "casework"),
        # An agency's own topic: its referrals, and their withdrawals; and, from intake, the withdrawal
        # of a consent that named the agency, so its kit learns that its next read is refused.
        *(
            dataclasses.replace(
                _topic(ReferralCreated, "referral", name=referral_topic(agency)),
                event_types=(
                    ReferralCreated.EVENT_TYPE,
                    ReferralWithdrawn.EVENT_TYPE,
                    ConsentWithdrawn.EVENT_TYPE,
                ),
                also_written_by=("intake",),
            )
            for agency in Agency
        ),
        _topic(ReferralResponded, "agencies"),
        _topic(ReferralStatusChanged, "referral"),
        _topic(ReferralEscalated, "referral"),
        # The services of a case's plan, keyed by case like every case event.
        _topic(ServiceChanged, "referral", partitions=6),
        _topic(ServiceEscalated, "referral"),
        _topic(ServiceComplaint, "referral"),
        _topic(MeetingDecided, "referral"),
        # An action item set or done, and its climbing the territory once overdue: keyed by case.
        dataclasses.replace(
            _topic(ActionItemChanged, "referral"),
            event_types=(ActionItemChanged.EVENT_TYPE, ActionItemEscalated.EVENT_TYPE),
        ),
        # Consent to share a child's details, its withdrawal, a supervisor's override: keyed by case.
        _topic(ConsentChanged, "intake", partitions=6),
        _topic(FollowupScheduled, "followup"),
        _topic(FollowupDue, "followup"),
        _topic(FollowupOverdue, "followup"),
        _topic(FollowupVisitRecorded, "followup", partitions=6),
        _topic(FollowupClosureRuleMet, "followup", partitions=6),
        # Who identified a child nobody could name, and who undid it: ids and reason codes only.
        dataclasses.replace(
            _topic(ChildLinked, "intake"), event_types=(ChildLinked.EVENT_TYPE, ChildLinkUndone.EVENT_TYPE)
        ),
        # Who read a child's personal data: names and purposes, never the data itself. Intake keeps
        # the registry; each service that keeps a case's notes records their reads itself.
        dataclasses.replace(
            _topic(PersonalDataAccessed, "intake"),
            also_written_by=("assessment", "casework", "followup", "referral"),
        ),
    ]
    # Every topic has at least one consumer (audit reads them all), so every topic gets
    # a dead-letter twin.
    topics += [_dead_letter(topic) for topic in topics]
    return {topic.name: topic for topic in topics}


TOPICS: dict[str, Topic] = _all_topics()
