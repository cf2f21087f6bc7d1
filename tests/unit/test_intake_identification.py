"""Identifying a child nobody could name, pure (services/intake/identification.py): which child and case
remain when a person links a provisional child to a known one, what the remaining child's identity and
digests become, giving a provisional child its identity, each refusal, and an undo that puts both back."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.identification import (
    CaseRecord,
    ChildRecord,
    IdentityTaken,
    LaterLinks,
    LinkedAlready,
    NotProvisional,
    Refused,
    SameChild,
    UndoneAlready,
    identified,
    later_links,
    linked,
    surviving,
    undoable,
    undone,
)
from shared.contracts.vocabulary import IdentificationReason, LinkUndoReason

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
VILLAGE = "140402001001"
REASON = IdentificationReason.later_report


def child(
    *, provisional: bool = False, nid: str | None = None, match: str | None = None, **identity
) -> ChildRecord:
    child_id = uuid.uuid4()
    return ChildRecord(
        id=child_id,
        identity=identity,
        token=f"token-{child_id}".encode(),
        national_id_digest=nid,
        match_digest=match,
        jurisdiction=VILLAGE,
        provisional=provisional,
    )


def case_of(
    who: ChildRecord, *, opened: datetime, state: str = "open", closed: datetime | None = None
) -> CaseRecord:
    return CaseRecord(
        id=uuid.uuid4(),
        child_id=who.id,
        state=state,
        opened_at=opened,
        jurisdiction=VILLAGE,
        case_number=f"140402-2026-{uuid.uuid4().int % 99999:05d}",
        closed_at=closed,
    )


UNNAMED = {
    "sex": "M",
    "age_estimate": 7,
    "appearance": "bruised face, red jacket",
    "place_seen": "by the bridge",
}
NAMED = {
    "name": "王小明",
    "national_id": "140402201905010011",
    "sex": "M",
    "birth_date": "2019-05-01",
    "age_estimate": None,
}


def test_the_case_that_remains_is_the_open_one_then_the_one_opened_first() -> None:
    a, b = child(), child()
    older, newer = case_of(a, opened=NOW - timedelta(days=3)), case_of(b, opened=NOW)
    assert surviving(newer, older) == (older, newer)
    closed_older = dataclasses.replace(older, state="closed")
    assert surviving(closed_older, newer) == (newer, closed_older), "an open case before a closed one"


def test_a_provisional_child_linked_to_a_later_named_child_keeps_its_older_case_and_its_identity() -> None:
    unnamed, named = child(provisional=True, **UNNAMED), child(nid="n1", match="m1", **NAMED)
    own, theirs = case_of(unnamed, opened=NOW - timedelta(days=2)), case_of(named, opened=NOW)
    later_report = uuid.uuid4()
    decided = linked(
        unnamed,
        named,
        {unnamed.id: own, named.id: theirs},
        {theirs.id: [later_report]},
        link_id=uuid.uuid4(),
        reason=REASON,
        by="cw-1",
        at=NOW,
    )
    link = decided.link
    assert (link.child_id, link.merged_child_id, link.case_id, link.merged_case_id) == (
        unnamed.id,
        named.id,
        own.id,
        theirs.id,
    ), "the older case and its child remain"
    assert link.moved_reports == (later_report,)
    giving, taking = decided.children
    assert (giving.id, giving.national_id_digest, giving.match_digest, giving.merged_into) == (
        named.id,
        None,
        None,
        unnamed.id,
    ), "the merged child gives up its digests first"
    assert (taking.id, taking.national_id_digest, taking.match_digest, taking.provisional) == (
        unnamed.id,
        "n1",
        "m1",
        False,
    )
    assert taking.identity["name"] == NAMED["name"] and taking.identity["appearance"] == UNNAMED["appearance"]
    assert taking.identity["age_estimate"] == 7, "the description fills what the known child lacks"
    assert set(decided.fields) >= {"name", "national_id", "birth_date"}
    event = decided.event
    assert (event.case_id, event.surviving_case_id, event.child_ref, event.merged_child_ref) == (
        theirs.id,
        own.id,
        unnamed.id,
        named.id,
    ), "keyed by the case casework closes"
    assert (link.previous_identity, link.previous_provisional, link.merged_national_id_digest) == (
        unnamed.token,
        True,
        "n1",
    ), "enough is kept to undo it"


def test_a_known_child_with_the_older_case_remains_and_the_provisional_one_merges_into_it() -> None:
    unnamed, named = child(provisional=True, **UNNAMED), child(nid="n1", **NAMED)
    own, theirs = case_of(unnamed, opened=NOW), case_of(named, opened=NOW - timedelta(days=30))
    decided = linked(
        unnamed,
        named,
        {unnamed.id: own, named.id: theirs},
        {own.id: [uuid.uuid4()]},
        link_id=uuid.uuid4(),
        reason=REASON,
        by="cw-1",
        at=NOW,
    )
    assert (decided.link.child_id, decided.link.case_id) == (named.id, theirs.id)
    merged, remaining = decided.children
    assert merged.id == unnamed.id and merged.merged_into == named.id and merged.provisional
    assert remaining.national_id_digest == "n1" and remaining.identity["appearance"] == UNNAMED["appearance"]


def test_a_known_child_with_no_case_merges_into_the_provisional_child_and_its_case() -> None:
    unnamed, screened = child(provisional=True, **UNNAMED), child(nid="n1", **NAMED)
    own = case_of(unnamed, opened=NOW)
    decided = linked(
        unnamed,
        screened,
        {unnamed.id: own, screened.id: None},
        {},
        link_id=uuid.uuid4(),
        reason=REASON,
        by="cw-1",
        at=NOW,
    )
    link = decided.link
    assert (link.child_id, link.case_id, link.merged_case_id) == (unnamed.id, own.id, None)
    assert decided.event.case_id == own.id and decided.link.moved_reports == ()


def test_two_provisional_children_linked_remain_one_provisional_child() -> None:
    first, second = child(provisional=True, **UNNAMED), child(provisional=True, sex="M", appearance="limps")
    cases = {first.id: case_of(first, opened=NOW - timedelta(days=1)), second.id: case_of(second, opened=NOW)}
    decided = linked(
        second,
        first,
        cases,
        {},
        link_id=uuid.uuid4(),
        reason=IdentificationReason.home_visit,
        by="cw-1",
        at=NOW,
    )
    remaining = next(c for c in decided.children if c.id == decided.link.child_id)
    assert remaining.id == first.id and remaining.provisional and remaining.national_id_digest is None


def test_what_a_link_refuses() -> None:
    unnamed, named = child(provisional=True, **UNNAMED), child(nid="n1", **NAMED)
    cases = {unnamed.id: case_of(unnamed, opened=NOW), named.id: case_of(named, opened=NOW)}
    args = {"link_id": uuid.uuid4(), "reason": REASON, "by": "cw-1", "at": NOW}
    with pytest.raises(NotProvisional):
        linked(named, unnamed, cases, {}, **args)
    with pytest.raises(LinkedAlready):
        linked(dataclasses.replace(unnamed, merged_into=named.id), named, cases, {}, **args)
    with pytest.raises(SameChild):
        linked(unnamed, unnamed, cases, {}, **args)
    with pytest.raises(Refused, match="merged into another child"):
        linked(unnamed, dataclasses.replace(named, merged_into=uuid.uuid4()), cases, {}, **args)


def test_a_provisional_child_given_its_identity_keeps_its_case_and_is_named_by_it() -> None:
    unnamed = child(provisional=True, **UNNAMED)
    own = case_of(unnamed, opened=NOW)
    given = {"name": "王小明", "national_id": "140402201905010011", "age_estimate": 8}
    decided = identified(
        unnamed,
        own,
        given,
        national_id_digest="n1",
        match_digest=None,
        holder=None,
        link_id=uuid.uuid4(),
        reason=IdentificationReason.documents,
        by="cw-1",
        at=NOW,
    )
    (change,) = decided.children
    assert (change.id, change.national_id_digest, change.provisional) == (unnamed.id, "n1", False)
    assert change.identity["age_estimate"] == 8, "what the person gives wins over the reporter's guess"
    assert change.identity["appearance"] == UNNAMED["appearance"]
    assert decided.link.merged_child_id is None
    assert decided.event.case_id == own.id == decided.event.surviving_case_id
    with pytest.raises(IdentityTaken):
        identified(
            unnamed,
            own,
            given,
            national_id_digest="n1",
            match_digest=None,
            holder=uuid.uuid4(),
            link_id=uuid.uuid4(),
            reason=IdentificationReason.documents,
            by="cw-1",
            at=NOW,
        )


def test_an_undo_puts_both_children_and_both_cases_back_as_they_were() -> None:
    unnamed, named = child(provisional=True, **UNNAMED), child(nid="n1", match="m1", **NAMED)
    own, theirs = case_of(unnamed, opened=NOW - timedelta(days=2)), case_of(named, opened=NOW)
    decided = linked(
        unnamed,
        named,
        {unnamed.id: own, named.id: theirs},
        {theirs.id: [uuid.uuid4()]},
        link_id=uuid.uuid4(),
        reason=REASON,
        by="cw-1",
        at=NOW,
    )
    survivor = dataclasses.replace(unnamed, identity=decided.children[1].identity, national_id_digest="n1")
    closed_by_link = dataclasses.replace(theirs, state="closed", closed_at=NOW)
    undo = undone(
        decided.link,
        survivor,
        UNNAMED,
        named,
        closed_by_link,
        [],
        reason=LinkUndoReason.wrong_child,
        by="sup-1",
        at=NOW + timedelta(hours=1),
    )
    back, given_back = undo.children
    assert (back.id, back.token, back.national_id_digest, back.match_digest, back.provisional) == (
        unnamed.id,
        unnamed.token,
        None,
        None,
        True,
    ), "the survivor gives the digests back first"
    given = given_back
    assert (given.id, given.national_id_digest, given.match_digest, given.merged_into) == (
        named.id,
        "n1",
        "m1",
        None,
    )
    assert undo.reopens and undo.event.case_id == theirs.id and undo.event.linked_at == NOW
    assert undo.link.undone_by == "sup-1" and "name" in undo.fields
    with pytest.raises(UndoneAlready):
        undone(
            undo.link,
            survivor,
            UNNAMED,
            named,
            closed_by_link,
            [],
            reason=LinkUndoReason.wrong_child,
            by="sup-1",
            at=NOW,
        )
    closed_before = dataclasses.replace(theirs, state="closed", closed_at=NOW - timedelta(minutes=1))
    assert not undone(
        decided.link,
        survivor,
        UNNAMED,
        named,
        closed_before,
        [],
        reason=LinkUndoReason.wrong_child,
        by="sup-1",
        at=NOW,
    ).reopens, "a case the link did not close stays closed"


def test_links_are_undone_in_reverse_order() -> None:
    unnamed, named, another = (
        child(provisional=True, **UNNAMED),
        child(nid="n1", **NAMED),
        child(provisional=True, sex="M", appearance="limps"),
    )
    cases = {
        c.id: case_of(c, opened=NOW - timedelta(days=i)) for i, c in enumerate((unnamed, named, another))
    }
    first = linked(unnamed, named, cases, {}, link_id=uuid.uuid4(), reason=REASON, by="cw-1", at=NOW).link
    second = linked(
        another, named, cases, {}, link_id=uuid.uuid4(), reason=REASON, by="cw-1", at=NOW + timedelta(hours=1)
    ).link
    others = child(provisional=True, **UNNAMED), child(nid="n2", **NAMED)
    unrelated = linked(
        *others,
        {c.id: case_of(c, opened=NOW) for c in others},
        {},
        link_id=uuid.uuid4(),
        reason=REASON,
        by="cw-1",
        at=NOW + timedelta(hours=2),
    ).link
    assert later_links(first, [unrelated]) == [], "a link about other children is no obstacle"
    assert later_links(first, [first, second]) == [second]
    assert later_links(second, [first, second]) == []
    assert later_links(first, [first, dataclasses.replace(second, undone_at=NOW)]) == []
    with pytest.raises(LaterLinks):
        undone(
            first,
            unnamed,
            UNNAMED,
            named,
            cases[named.id],
            [second],
            reason=LinkUndoReason.wrong_child,
            by="sup-1",
            at=NOW,
        )
    # What a case's record offers to undo is what `undone` would undo.
    assert [undoable(link, [first, second, unrelated]) for link in (first, second, unrelated)] == [
        False,
        True,
        True,
    ]
    second_undone = dataclasses.replace(second, undone_at=NOW + timedelta(hours=3))
    assert [undoable(link, [first, second_undone]) for link in (first, second_undone)] == [True, False], (
        "once the later link is undone, the earlier one can be; an undone link cannot be again"
    )
