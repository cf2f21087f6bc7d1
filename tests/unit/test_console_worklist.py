"""The board's address: the filters a person chooses reach casework as its worklist takes them, a
filter that is not one of its choices is refused by name, the quick filters keep the territory and
state their counts are for, the pages go forward and back, and the search box tells a case number
from an ID number and a name."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest

from services.console.worklist import (
    BadFilter,
    BoardFilters,
    board_address,
    filters_of,
    paging_of,
    quick_filters,
    sought,
)


def test_the_forms_filters_become_the_worklists_query_and_an_empty_field_is_no_filter() -> None:
    form = {
        "grade": "red",
        "emergency": "true",
        "category": "abuse",
        "territory": "140402001",
        "stage": "",
        "owner": "unassigned",
        "overdue": "",
        "received_from": "2026-12-01",
        "received_to": "2026-12-05",
        "state": "closed",
        "after": "ignored-here",
    }
    filters = filters_of(form)
    assert filters.received_from == date(2026, 12, 1)
    assert filters.query() == {
        "grade": "red",
        "emergency": "true",
        "category": "abuse",
        "territory": "140402001",
        "owner": "unassigned",
        "received_from": "2026-12-01",
        "received_to": "2026-12-05",
        "state": "closed",
    }
    assert filters_of({}) == BoardFilters() and BoardFilters().link() == "/board"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("grade", "purple"),
        ("emergency", "yes"),
        ("category", "x"),
        ("territory", "1404021"),
        ("stage", "done"),
        ("owner", "me; drop"),
        ("received_from", "yesterday"),
        ("number", "123"),
        ("state", "all"),
    ],
)
def test_a_filter_not_among_its_choices_is_refused_by_its_name(name: str, value: str) -> None:
    with pytest.raises(BadFilter) as refused:
        filters_of({name: value})
    assert str(refused.value) == name


def test_an_address_shows_the_board_without_what_is_not_among_its_choices_and_names_it() -> None:
    filters, paging, refused = board_address(
        {
            "grade": "purple",
            "owner": "'",
            "stage": "plan",
            "received_from": "2026-12-05",
            "received_to": "2026-12-01",
        },
        after="not a cursor",
        back=["", "x"],
    )
    assert filters == BoardFilters(stage="plan", received_from=date(2026, 12, 1 + 4))
    assert (paging.after, paging.back) == (None, ())
    assert refused == ("grade", "owner", "received_to", "after")
    assert board_address({"grade": "red"}, after=None, back=()) == (
        BoardFilters(grade="red"),
        paging_of(None, ()),
        (),
    )


def test_a_received_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(BadFilter, match="received_to"):
        filters_of({"received_from": "2026-12-05", "received_to": "2026-12-01"})


def test_each_quick_filter_keeps_the_territory_and_state_its_count_is_for_and_nothing_else() -> None:
    filters = filters_of({"territory": "140402001", "state": "closed", "grade": "red", "stage": "plan"})
    quick = {name: (href, current) for name, href, current in quick_filters(filters)}
    assert parse_qs(urlsplit(quick["emergency"][0]).query) == {
        "territory": ["140402001"],
        "state": ["closed"],
        "emergency": ["true"],
    }
    assert parse_qs(urlsplit(quick["red"][0]).query)["grade"] == ["red"]
    assert not any(current for _, current in quick.values()), "a stage chosen: no quick filter is the board"
    red = {name: current for name, _, current in quick_filters(filters_of({"grade": "red"}))}
    assert red["red"] and not red["all"]
    assert quick_filters(BoardFilters())[0] == ("all", "/board", True)


def test_the_pages_go_forward_by_the_cursor_and_back_by_the_trail_kept_in_the_address() -> None:
    filters = filters_of({"grade": "red"})
    first = paging_of(None, ())
    assert first.number == 1 and first.previous_link(filters) is None
    second_link = first.next_link(filters, "c1")
    assert parse_qs(urlsplit(second_link).query, keep_blank_values=True) == {
        "grade": ["red"],
        "after": ["c1"],
        "back": [""],
    }
    second = paging_of("c1", [""])
    assert second.number == 2 and second.previous_link(filters) == "/board?grade=red"
    third = paging_of("c2", ["", "c1"])
    assert parse_qs(urlsplit(third.previous_link(filters)).query, keep_blank_values=True) == {
        "grade": ["red"],
        "after": ["c1"],
        "back": [""],
    }
    assert third.next_link(filters, None) is None, "the last page has no next"
    with pytest.raises(BadFilter):
        paging_of("not a cursor!", ())


@pytest.mark.parametrize(
    ("typed", "kind", "text"),
    [
        (" 140402-2026-00123 ", "number", "140402-2026-00123"),
        ("14040220120101001X", "national_id", "14040220120101001X"),
        ("王  小红", "name", "王 小红"),
        ("140402-2026", "national_id", "140402-2026"),
        ("110101201001011", "national_id", "110101201001011"),  # the old 15 digits: an ID number, not a phone
        ("138 0013 8000", "phone", "138 0013 8000"),
        ("13800138000", "phone", "13800138000"),
        ("+86-138-0013-8000", "phone", "+86-138-0013-8000"),
        ("(0351) 123-4567", "phone", "(0351) 123-4567"),
        ("12345", "national_id", "12345"),  # too short for a phone
    ],
)
def test_the_search_box_tells_a_case_number_from_an_id_number_a_phone_and_a_name(
    typed: str, kind: str, text: str
) -> None:
    found = sought(typed)
    assert (found.kind, found.text) == (kind, text)
    assert sought("   ") is None
