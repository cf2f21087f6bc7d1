"""A case's events and the reads of a child's data as a person reads them: who acted (their name where
the console knows them, else their id, and role), what was decided, and when. Pure: the words come
from the reader's catalogs (services/console/i18n.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.console.i18n import Language

# The payload field naming who acted, by event (the rest are the rules' or the system's own).
ACTOR_FIELDS = (
    "assigned_by",
    "reviewed_by",
    "requested_by",
    "decided_by",
    "accepted_by",
    "responder_ref",
    "changed_by",
    "withdrawn_by",
    "visitor_ref",
    "accessor_ref",
    "linked_by",
    "undone_by",
    "reopened_by",
    "recorded_by",
)
# An access that changed the child's record rather than read it (the contract says `update`).
WRITES = frozenset({"update", "write"})


@dataclass(frozen=True)
class Someone:
    """A person as the console knows them: their username and role."""

    name: str
    role: str | None


@dataclass(frozen=True)
class Step:
    """One step of a history, in words."""

    when: str
    event: str
    who: str | None
    role: str | None
    what: str


def actor_of(payload: Mapping[str, Any]) -> str | None:
    return next((payload[field] for field in ACTOR_FIELDS if payload.get(field)), None)


def actors(steps: list[Mapping[str, Any]]) -> set[str]:
    """Every id of a person who acted in these steps, or approved what they did (whose names the console
    may know)."""
    payloads = [step.get("payload") or {} for step in steps]
    return {person for p in payloads for person in (actor_of(p), p.get("approved_by")) if person}


def access_action(action: str) -> str:
    """A read, a search, or a write (a change of the child's record)."""
    return "write" if action in WRITES else action


def _join(lang: Language, *parts: str | None) -> str:
    return lang.gettext("history:separator").join(part for part in parts if part)


def _access(lang: Language, p: Mapping[str, Any]) -> str:
    fields = lang.labels("personal", p.get("fields") or [])
    refusal = p.get("refusal") and lang.label("refusal", p["refusal"])
    shown = (
        lang.label("access_outcome", "shown")
        if p.get("outcome") == "shown"
        else _join(lang, lang.label("access_outcome", "refused"), refusal)
    )
    return _join(
        lang,
        p.get("agency") and lang.label("agency", p["agency"]),
        lang.label("access_action", access_action(p.get("action", "read"))),
        lang.label("record", p.get("record")),
        fields,
        lang.label("purpose", p.get("purpose")),
        shown,
    )


def _grade(lang: Language, p: Mapping[str, Any]) -> str:
    why = lang.gettext("list:separator").join(lang.factor(f["code"]) for f in p.get("factors") or [])
    overridden = p.get("overridden") and p.get("override_reason")
    return _join(
        lang,
        lang.label("risk_level", p.get("risk_level")),
        lang.label("reason", p["override_reason"]) if overridden else why,
    )


def _visit(lang: Language, p: Mapping[str, Any]) -> str:
    found = lang.gettext("history:risk_found" if p.get("risk_found") else "history:no_risk_found")
    unmet = p.get("needs_unmet") or []
    return _join(
        lang,
        found,
        lang.labels("indicator", p.get("indicators") or []),
        unmet and lang.gettext("history:needs_unmet").format(needs=lang.labels("need", unmet)),
    )


def _referral(lang: Language, p: Mapping[str, Any]) -> str:
    return _join(
        lang,
        lang.label("agency", p.get("agency")),
        p.get("state") and lang.label("referral_state", p["state"]),
        p.get("action") and lang.label("referral_action", p["action"]),
        p.get("outcome") and lang.label("outcome", p["outcome"]),
        p.get("reason") and lang.label("reason", p["reason"]),
    )


def _decision(lang: Language, p: Mapping[str, Any]) -> str:
    decided = "approved" if p.get("approved") else "rejected"
    return _join(
        lang,
        lang.label("approval", p.get("kind")),
        lang.label("approval_state", decided),
        p.get("reason") and lang.label("reason", p["reason"]),
    )


def _reopening(lang: Language, p: Mapping[str, Any], people: Mapping[str, Someone]) -> str:
    """Why it was reopened, the stage it is at again, and the supervisor who approved a red one (when it
    was not the one who reopened it)."""
    approver = p.get("approved_by")
    approved = (
        approver
        and approver != p.get("reopened_by")
        and lang.gettext("history:approved_by").format(who=_name(approver, people))
    )
    return _join(
        lang,
        lang.label("reason", p.get("reason")),
        lang.gettext("history:back_at").format(stage=lang.label("stage", p.get("stage"))),
        approved,
    )


def _what(lang: Language, event: str, p: Mapping[str, Any], people: Mapping[str, Someone]) -> str:
    if event == "access.recorded":
        return _access(lang, p)
    if event == "case.assessed":
        return _grade(lang, p)
    if event == "followup.visit_recorded":
        return _visit(lang, p)
    if event.startswith("referral."):
        return _referral(lang, p)
    if event == "case.approval_decided":
        return _decision(lang, p)
    if event == "consent.changed":
        return _join(
            lang,
            lang.label("consent_kind", p.get("kind")),
            p.get("reason") and lang.label("consent_override_reason", p["reason"]),
            lang.labels("sharing_party", p.get("parties") or []),
            p.get("withdrawn_on") and lang.gettext("history:consent_withdrawn"),
        )
    if event == "meeting.decision":
        return _join(
            lang,
            lang.label("meeting_decision", p.get("decision")),
            lang.gettext("history:meeting_present").format(
                agencies=lang.labels("agency", p.get("present") or [])
            ),
        )
    if event == "meeting.action_item":
        return _join(
            lang,
            lang.label("agency", p.get("agency")),
            lang.label("action_task", p.get("task")),
            p.get("due_on") and lang.gettext("history:due_on").format(day=lang.day(p["due_on"])),
            lang.label("action_item_state", p.get("state")),
        )
    if event == "meeting.action_item_escalated":
        return _join(
            lang,
            lang.label("agency", p.get("agency")),
            lang.label("action_task", p.get("task")),
            p.get("due_on") and lang.gettext("history:due_on").format(day=lang.day(p["due_on"])),
            lang.gettext("history:now_at").format(place=lang.place(p.get("to_jurisdiction"))),
        )
    if event == "case.reopened":
        return _reopening(lang, p, people)
    if event == "case.reviewed":
        return _join(
            lang,
            lang.label("review", p.get("decision")),
            p.get("reason") and lang.label("reason", p["reason"]),
        )
    if event == "case.assigned":
        owner = p.get("owner_ref")
        return _join(
            lang,
            owner and lang.gettext("history:owner").format(who=_name(owner, people)),
            p.get("reason") and lang.label("assign_reason", p["reason"]),
        )
    if event in ("case.approval_requested", "case.closed", "case.transferred", "case.escalated"):
        return _join(
            lang,
            p.get("kind") and lang.label("approval", p["kind"]),
            p.get("reason") and lang.label("reason", p["reason"]),
        )
    return ""


def _name(subject: str, people: Mapping[str, Someone]) -> str:
    known = people.get(subject)
    return known.name if known else subject


def step_in_words(lang: Language, step: Mapping[str, Any], people: Mapping[str, Someone]) -> Step:
    """One timeline step: who (name and role), what was decided, when — in the reader's language. A
    change of the child's record is shown as a write, not a read."""
    payload = step.get("payload") or {}
    event = step["event_type"]
    actor = actor_of(payload)
    known = people.get(actor) if actor else None
    role = (known.role if known else None) or payload.get("accessor_role")
    if event == "access.recorded" and access_action(payload.get("action", "read")) == "write":
        event = "access.written"
    return Step(
        when=lang.when(step.get("occurred_at")),
        event=lang.label("event", event),
        who=_name(actor, people) if actor else None,
        role=role and lang.label("role", role),
        what=_what(lang, step["event_type"], payload, people),
    )


def entry_in_words(lang: Language, entry: Mapping[str, Any], people: Mapping[str, Someone]) -> Step:
    """One entry of the access log: who read or changed which of the child's records, and why."""
    return step_in_words(
        lang,
        {"event_type": "access.recorded", "occurred_at": entry.get("accessed_at"), "payload": entry},
        people,
    )
