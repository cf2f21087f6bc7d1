"""The domain's words as typed values: categories, indicators, grades, needs, agencies,
stages, territory levels and the constrained strings every contract uses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, StringConstraints

# The territory's words have their home in shared.territory; the contracts speak them too.
from shared.territory.code import TerritoryLevel, is_within, territory_level  # noqa: F401


class Category(StrEnum):
    """The six kinds of minors in difficulty; a case may have several."""

    street = "street"
    no_guardian = "no_guardian"
    abuse = "abuse"
    left_behind = "left_behind"
    trafficked = "trafficked"
    illness_disability = "illness_disability"


class Indicator(StrEnum):
    """Observed facts that the grading rules weigh."""

    immediate_danger = "immediate_danger"
    visible_injury = "visible_injury"
    sexual_abuse_suspected = "sexual_abuse_suspected"
    no_caregiver = "no_caregiver"
    guardian_incarcerated = "guardian_incarcerated"
    guardian_drug_use = "guardian_drug_use"
    guardian_seriously_ill = "guardian_seriously_ill"
    abandoned = "abandoned"
    domestic_violence = "domestic_violence"
    begging = "begging"
    out_of_school = "out_of_school"
    left_behind = "left_behind"
    trafficking_suspected = "trafficking_suspected"
    illegal_employment = "illegal_employment"
    serious_illness = "serious_illness"
    disability = "disability"
    psychological_distress = "psychological_distress"
    self_harm_risk = "self_harm_risk"


class Channel(StrEnum):
    """How a report reached the network (also the role of the person reporting)."""

    hotline = "hotline"
    school = "school"
    hospital = "hospital"
    village_committee = "village_committee"
    community = "community"
    police = "police"
    volunteer = "volunteer"
    relative = "relative"
    neighbour = "neighbour"
    online = "online"
    self = "self"
    screening = "screening"  # a township's or village's survey of every child (排查摸底)


class GuardianWhereabouts(StrEnum):
    """Where a parent is, as the screening survey records it for the father and the mother."""

    at_home = "at_home"
    migrant_work = "migrant_work"
    prison = "prison"
    drug_use = "drug_use"
    serious_illness = "serious_illness"
    disability = "disability"
    deceased = "deceased"
    unknown = "unknown"


class Caregiver(StrEnum):
    """Who actually cares for the child day to day, as the screening survey found."""

    parents = "parents"
    father = "father"
    mother = "mother"
    grandparents = "grandparents"
    other_relatives = "other_relatives"
    foster_family = "foster_family"
    institution = "institution"
    nobody = "nobody"


class SchoolStatus(StrEnum):
    enrolled = "enrolled"
    dropped_out = "dropped_out"
    never_enrolled = "never_enrolled"
    not_school_age = "not_school_age"


class HealthStatus(StrEnum):
    healthy = "healthy"
    chronic_illness = "chronic_illness"
    serious_illness = "serious_illness"


class DisabilityKind(StrEnum):
    none = "none"
    physical = "physical"
    intellectual = "intellectual"
    mental = "mental"
    sensory = "sensory"
    multiple = "multiple"


class RiskLevel(StrEnum):
    """The three grades: red is level 1 (highest), orange level 2, blue level 3 (lowest)."""

    red = "red"
    orange = "orange"
    blue = "blue"


class Need(StrEnum):
    """The kinds of assistance a case can need."""

    living = "living"
    education = "education"
    policy = "policy"
    psychological = "psychological"
    guardianship = "guardianship"
    legal = "legal"


class Agency(StrEnum):
    """The kinds of agency a case can be referred to; each has its own referral topic."""

    police = "police"
    education = "education"
    legal_aid = "legal_aid"
    civil_affairs = "civil_affairs"
    health = "health"
    womens_federation = "womens_federation"
    youth_league = "youth_league"
    procuratorate = "procuratorate"
    court = "court"
    social_work = "social_work"


class Stage(StrEnum):
    """The casework stages, in the order a case passes through them."""

    screening = "screening"
    written_review = "written_review"
    needs_assessment = "needs_assessment"
    plan = "plan"
    services = "services"
    monitoring = "monitoring"
    closed = "closed"


class CaseStatus(StrEnum):
    """Whether a case is open or closed: the `state` of a case (and of follow-up's plan for it), which
    every service keeps. (A case's `Stage` says how far its work went; a closed case's is `closed`.)"""

    open = "open"
    closed = "closed"


def advance_stage(current: Stage | str | None, target: Stage) -> Stage:
    """The later of two stages: a case's stage only moves forward (a late report does not
    send a planned case back to review). None means the case has no stage yet."""
    if current is None:
        return target
    order = list(Stage)
    return max(Stage(current), target, key=order.index)


class ScreenOutReason(StrEnum):
    """Why a reviewed report is not a case for the protection network (书面审核: screened out)."""

    unfounded = "unfounded"
    duplicate = "duplicate"
    outside_jurisdiction = "outside_jurisdiction"
    adult = "adult"
    resolved_by_family = "resolved_by_family"


class ClosureReason(StrEnum):
    """Why a case was closed."""

    risk_resolved = "risk_resolved"
    turned_18 = "turned_18"
    moved_away = "moved_away"
    deceased = "deceased"
    family_reunified = "family_reunified"
    duplicate = "duplicate"  # the same child's case is open under another number
    screened_out = "screened_out"


CLOSURE_NEEDS_RECENT_VISIT = frozenset({ClosureReason.risk_resolved, ClosureReason.family_reunified})
"""Closures that say the child is now safe: a red or orange case closes for one of them only after
a follow-up visit saw the child recently (casework's policy says how recently). The others (turned
18, moved away, died, a duplicate) say why the network no longer protects this child here."""


class ReopenReason(StrEnum):
    """Why a person reopens a closed case (重新开启个案). A new report reopens one by itself; an undone
    link reopens the case it merged away."""

    new_risk = "new_risk"  # the child is at risk again
    closed_in_error = "closed_in_error"  # the case should not have closed
    services_still_needed = "services_still_needed"  # the help the child needs did not end with the case
    family_request = "family_request"  # the child's family asks for help again


class WithdrawalReason(StrEnum):
    """Why a referral was withdrawn before the agency finished it (转介撤回)."""

    no_longer_needed = "no_longer_needed"  # the child no longer needs what was asked
    risk_resolved = "risk_resolved"
    wrong_agency = "wrong_agency"  # the referral went to an agency that does not do this
    duplicate = "duplicate"  # the same request is open under another referral or case
    moved_away = "moved_away"
    case_closed = "case_closed"  # by rule, when a case closed with the referral still open


class TransferReason(StrEnum):
    """Why a case moves to another territory."""

    family_moved = "family_moved"  # the child's family moved there
    placed_there = "placed_there"  # the child was placed in care there (kin, foster, institution)
    wrong_territory = "wrong_territory"  # the case was opened in the wrong territory


class IdentificationReason(StrEnum):
    """How a provisional child (one nobody could name when reported) came to be identified."""

    later_report = "later_report"  # a later report named the child (its national ID, its name)
    home_visit = "home_visit"  # a visit found who the child is
    known_to_caseworker = "known_to_caseworker"  # the caseworker knows the child
    documents = "documents"  # papers were seen: an ID card, the household register, a school record


class LinkUndoReason(StrEnum):
    """Why a supervisor undid the identification of a provisional child."""

    wrong_child = "wrong_child"  # the two were different children
    entered_in_error = "entered_in_error"  # the link or the identity was recorded by mistake


class ReferralState(StrEnum):
    """Where a referral is in its lifecycle."""

    created = "created"
    acknowledged = "acknowledged"
    in_progress = "in_progress"
    done = "done"
    declined = "declined"
    withdrawn = "withdrawn"  # ended by the case's side, with a reason, before the agency finished


class ServiceState(StrEnum):
    """Where a service of a case's assistance plan is (提供救助服务): planned for a provider, accepted by
    it, in progress (a unit of it delivered), and then delivered (with an outcome), not delivered (with
    a reason), or withdrawn by the case's side (with a reason)."""

    planned = "planned"
    accepted = "accepted"
    in_progress = "in_progress"
    delivered = "delivered"
    not_delivered = "not_delivered"
    withdrawn = "withdrawn"


OPEN_SERVICE_STATES = frozenset({ServiceState.planned, ServiceState.accepted, ServiceState.in_progress})
"""A service in these states is still owed to the child: its case does not close while one is."""


class ServiceKind(StrEnum):
    """What a service gives the child, each within one of the six kinds of help (a `Need`): the
    vocabulary of the plan's services. `SERVICE_KIND_NEED` says which."""

    minimum_living_allowance = "minimum_living_allowance"  # 最低生活保障
    temporary_assistance = "temporary_assistance"  # 临时救助
    in_kind_support = "in_kind_support"  # 实物救助
    basic_living_allowance = "basic_living_allowance"  # 基本生活补贴 (orphans, de facto unattended children)
    school_return = "school_return"  # 劝返复学
    fee_waiver = "fee_waiver"  # 学费减免
    tutoring = "tutoring"  # 课业辅导
    education_subsidy = "education_subsidy"  # 助学金
    household_registration = "household_registration"  # 户籍登记
    medical_insurance = "medical_insurance"  # 医疗保险参保
    disability_certification = "disability_certification"  # 残疾评定
    counselling = "counselling"  # 心理辅导
    crisis_intervention = "crisis_intervention"  # 危机干预
    guardian_guidance = "guardian_guidance"  # 监护指导
    guardianship_support = "guardianship_support"  # 监护支持
    temporary_care = "temporary_care"  # 临时监护照料
    legal_aid = "legal_aid"  # 法律援助
    legal_consultation = "legal_consultation"  # 法律咨询
    guardianship_transfer_lawsuit = "guardianship_transfer_lawsuit"  # 监护资格转移诉讼


SERVICE_KIND_NEED: dict[ServiceKind, Need] = {
    ServiceKind.minimum_living_allowance: Need.living,
    ServiceKind.temporary_assistance: Need.living,
    ServiceKind.in_kind_support: Need.living,
    ServiceKind.basic_living_allowance: Need.living,
    ServiceKind.school_return: Need.education,
    ServiceKind.fee_waiver: Need.education,
    ServiceKind.tutoring: Need.education,
    ServiceKind.education_subsidy: Need.education,
    ServiceKind.household_registration: Need.policy,
    ServiceKind.medical_insurance: Need.policy,
    ServiceKind.disability_certification: Need.policy,
    ServiceKind.counselling: Need.psychological,
    ServiceKind.crisis_intervention: Need.psychological,
    ServiceKind.guardian_guidance: Need.guardianship,
    ServiceKind.guardianship_support: Need.guardianship,
    ServiceKind.temporary_care: Need.guardianship,
    ServiceKind.legal_aid: Need.legal,
    ServiceKind.legal_consultation: Need.legal,
    ServiceKind.guardianship_transfer_lawsuit: Need.legal,
}
"""The kind of help each service kind gives: a plan item's need, which its services answer."""


class GuardianshipGap(StrEnum):
    """Why a child's guardian is not there, able or willing to care for them, as a home visit found."""

    working_away = "working_away"  # 外出务工
    imprisoned = "imprisoned"  # 服刑在押
    in_drug_rehabilitation = "in_drug_rehabilitation"  # 强制隔离戒毒
    seriously_ill_or_disabled = "seriously_ill_or_disabled"  # 重病重残
    missing = "missing"  # 失联
    deceased = "deceased"  # 死亡
    refuses_care = "refuses_care"  # 拒不履行监护职责
    harms_the_child = "harms_the_child"  # 实施侵害
    no_means = "no_means"  # 无力抚养


class LawsuitStep(StrEnum):
    """The steps of a guardianship-transfer lawsuit (监护资格转移诉讼), in the order a court takes them."""

    application = "application"  # 提起申请
    accepted = "accepted"  # 法院受理
    hearing = "hearing"  # 开庭审理
    judgement = "judgement"  # 判决


class JudgementResult(StrEnum):
    """What the court decided."""

    guardianship_transferred = "guardianship_transferred"  # 撤销原监护资格、指定新监护人
    petition_rejected = "petition_rejected"  # 驳回申请


SERVICES_WITH_STEPS = frozenset({"guardianship_transfer_lawsuit"})
"""The service kinds whose delivery is a sequence of dated steps (LawsuitStep)."""


class ServiceOutcome(StrEnum):
    """How a delivered service left the need it answered."""

    need_met = "need_met"
    need_partly_met = "need_partly_met"
    need_not_met = "need_not_met"


class ComplaintKind(StrEnum):
    """What a family (or the child, or the caseworker) complains of in a service (投诉)."""

    late = "late"  # 服务不及时
    not_as_agreed = "not_as_agreed"  # 未按约定提供服务
    staff_conduct = "staff_conduct"  # 工作人员态度或行为不当
    privacy = "privacy"  # 泄露个人信息
    other = "other"


class ComplaintSource(StrEnum):
    """Who complained."""

    family = "family"
    child = "child"
    caseworker = "caseworker"


class ComplaintFinding(StrEnum):
    """How the county's civil affairs bureau found a complaint, once looked into."""

    upheld = "upheld"  # 投诉属实
    not_upheld = "not_upheld"  # 投诉不属实


class MeetingDecision(StrEnum):
    """What a joint meeting (联席会议) decided for a case it discussed."""

    assign_department = "assign_department"  # 明确责任部门: a department takes it on, with an action item
    refer_again = "refer_again"  # 另行转介: referred to another department or provider
    joint_service = "joint_service"  # 联合帮扶: several departments act together
    escalate = "escalate"  # 提请上级协调: put to the level above
    keep_watching = "keep_watching"  # 继续跟踪: nothing new, followed up as it is


class ActionTask(StrEnum):
    """What a joint meeting asked a department to do for a case (督办事项)."""

    school_enrolment = "school_enrolment"  # 落实入学（复学）
    living_assistance = "living_assistance"  # 落实生活救助
    counselling = "counselling"  # 心理疏导
    legal_support = "legal_support"  # 法律援助
    verify_situation = "verify_situation"  # 核实情况
    take_referral = "take_referral"  # 接收转介
    other = "other"  # 其他（见说明）


class ActionItemState(StrEnum):
    """Where an action item stands: open until its department says it is done."""

    open = "open"
    done = "done"


class ProviderKind(StrEnum):
    """Who delivers a service: an agency's office, or an organisation the government purchases
    services from (承接机构)."""

    agency_office = "agency_office"
    social_work_organisation = "social_work_organisation"  # 社会工作服务机构
    legal_organisation = "legal_organisation"  # 法律服务机构
    caring_family = "caring_family"  # 爱心家庭
    volunteer_team = "volunteer_team"  # 志愿服务队伍


SharingParty = StrEnum(
    "SharingParty",
    {**{a.value: a.value for a in Agency}, **{k.value: k.value for k in ProviderKind}},
    module=__name__,
)
SharingParty.__doc__ = """Whom a child's details may be shared with, as a consent names them: a kind of agency
(by its referrals) or a kind of provider (by the services it delivers)."""


class ConsentKind(StrEnum):
    """What a consent record is (知情同意): the guardian's or an older child's consent, a younger
    child's assent (recorded and shown, not enough alone), or a supervisor's override with a reason."""

    consent = "consent"
    assent = "assent"
    override = "override"


class ConsentGiver(StrEnum):
    """Who gave a consent or assent."""

    guardian = "guardian"  # 监护人
    child = "child"  # 儿童本人


class ConsentWay(StrEnum):
    """How a consent was given."""

    written = "written"  # 书面签字
    thumbprint = "thumbprint"  # 按手印
    verbal = "verbal"  # 口头同意（有见证）


class OverrideReason(StrEnum):
    """Why a supervisor shares a child's details without consent."""

    best_interests = "best_interests"  # 儿童利益最大化
    duty_in_law = "duty_in_law"  # 法定职责


CHILD_CONSENT_AGE = 15
"""From this age a child's own consent is enough (the Interagency Guidelines' informed consent);
below it the child's word is an assent, recorded beside the guardian's consent."""


class Role(StrEnum):
    """What a user of cpnet is. A `reporter` is an institution that submits reports over
    HTTP (a school, hospital, village committee, police station); it can read nothing back."""

    hotline = "hotline"
    reporter = "reporter"
    caseworker = "caseworker"
    supervisor = "supervisor"
    agency_officer = "agency_officer"
    provider_worker = "provider_worker"  # a contracted provider's worker: its organisation's services only
    operator = "operator"
    auditor = "auditor"


class AccessPurpose(StrEnum):
    """Why someone reads a child's personal data. Declared with every read and kept on the
    ledger, so an inspector can ask whether the purpose fitted the reader."""

    investigation = "investigation"  # looking into harm done to the child (police, procuratorate)
    protection_action = "protection_action"  # acting on a referral addressed to one's agency
    assessment = "assessment"  # grading, needs assessment
    home_visit = "home_visit"  # preparing or recording a visit
    case_planning = "case_planning"  # the assistance plan and its services
    supervision = "supervision"  # a supervisor's review of the casework
    legal_proceedings = "legal_proceedings"  # guardianship, prosecution, legal aid
    record_correction = "record_correction"  # putting a wrong record right
    worklist = "worklist"  # recognising one's cases on a list: age, sex and one line of what happened


class PersonalRecord(StrEnum):
    """The stores of a child's personal data: intake's, and the notes of a case's actions, each kept by
    the service that owns the action (since contracts 1.8)."""

    child_details = "child_details"  # the registry's identity and the reports' narratives
    archive = "archive"  # the caseworkers' information archive
    case_notes = "case_notes"  # what people wrote with their actions on a case (shared/notes.py)


class PersonalField(StrEnum):
    """The parts of a child's personal data a reader may be shown. Names, never values."""

    name = "name"
    national_id = "national_id"
    sex = "sex"
    birth_date = "birth_date"
    age_estimate = "age_estimate"
    address = "address"
    school = "school"
    appearance = "appearance"  # what a child nobody could name looks like
    place_seen = "place_seen"  # where that child was seen, in words
    narratives = "narratives"  # what each reporter said
    reporters = "reporters"  # who reported: protected, since reporters fear reprisal
    home = "home"  # the archive's sections
    community = "community"
    difficulties = "difficulties"
    risks = "risks"
    notes = "notes"  # the free text written with an action (since contracts 1.8)


OPEN_REFERRAL_STATES = frozenset(
    {ReferralState.created, ReferralState.acknowledged, ReferralState.in_progress}
)
"""A referral in these states still waits on the agency's work (and entitles it to the
child's details); done, declined and withdrawn referrals are closed."""


CASE_NUMBER_PATTERN = r"^[0-9]{6}-[0-9]{4}-[0-9]{5,9}$"
CaseNumber = Annotated[str, StringConstraints(pattern=CASE_NUMBER_PATTERN)]
"""The number people say and write for a case (个案编号): its county's six digits, the year it
opened, and a sequence of that county and year — e.g. 140402-2026-00123. Given by intake;
shared/case_number.py formats and parses it."""

Jurisdiction = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
"""A 12-digit administrative code: 2 province, 2 city, 2 county, 3 township, 3 village
digits; trailing zero segments mean the node is higher up the tree."""

REASON_CODE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
ReasonCode = Annotated[str, StringConstraints(pattern=REASON_CODE_PATTERN)]
"""A machine reason code; used instead of free text because free text can carry a child's
personal data."""

OpaqueRef = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
"""An identifier owned by another system (a reporter's id, a rule-set version, a user's
pseudonymous id); opaque to cpnet."""


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""A timezone-aware moment, normalised to UTC so every contract speaks one clock."""

CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the server's clock a person's device may be before a moment is 'in the future'."""


def _not_in_the_future(moment: datetime) -> datetime:
    if moment > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("cannot be dated in the future")
    return moment


PastMoment = Annotated[AwareDatetime, AfterValidator(_as_utc), AfterValidator(_not_in_the_future)]
"""When something a person records happened (a visit, a home visit): never in the future, so it
cannot push what is due next out of sight."""


CHINA_STANDARD_TIME = ZoneInfo("Asia/Shanghai")
"""The clock of days people write (a case's year, a service's due day, a consent's day)."""


def _not_after_today(day: date) -> date:
    if day > (datetime.now(CHINA_STANDARD_TIME) + CLOCK_SKEW).date():
        raise ValueError("cannot be dated in the future")
    return day


PastDay = Annotated[date, AfterValidator(_not_after_today)]
"""The day something a person records happened (a unit given, a court's step, a consent): never after
today in China Standard Time, beyond a few minutes' skew."""
# What a route taking a visit's `visited_at` (a PastMoment) says of its 422: today's date is no schema's.
VISITED_IN_THE_FUTURE = (
    "invalid fields; or `visited_at` is in the future (later than now by the service's "
    "clock, beyond a few minutes' skew)"
)
