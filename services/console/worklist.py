"""The board's filters as its address says them (the form, the quick filters, the pages) and as
casework's worklist takes them, and what the header's search box was given. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from urllib.parse import urlencode

from services.console.navigation import BOARD
from shared.contracts.hotline import NATIONAL_ID_PATTERN
from shared.contracts.vocabulary import CASE_NUMBER_PATTERN, CaseStatus, Category, RiskLevel, Stage
from shared.phone import phone_number
from shared.territory.code import PREFIX_PATTERN

PAGE_SIZE = 50
OWNERS = ("me", "unassigned")  # the form's choices; a caseworker's id comes from a link
STATES = tuple(state.value for state in CaseStatus)
OWNER = re.compile(r"^(me|unassigned|[A-Za-z0-9._:-]{1,64})$")
CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
# The quick filters beside the worklist, each with the `tally` count casework gives it.
QUICK = (
    ("all", {}),
    ("emergency", {"emergency": True}),
    ("red", {"grade": "red"}),
    ("orange", {"grade": "orange"}),
    ("blue", {"grade": "blue"}),
    ("overdue", {"overdue": True}),
    ("unassigned", {"owner": "unassigned"}),
    ("pending_approval", {"pending_approval": True}),
)


class BadFilter(ValueError):
    """A board's address with a filter that is not one of its choices (named, never its value)."""


@dataclass(frozen=True)
class BoardFilters:
    """What the board lists: each filter None when not chosen."""

    grade: str | None = None
    emergency: bool | None = None
    category: str | None = None
    territory: str | None = None
    stage: str | None = None
    owner: str | None = None
    overdue: bool | None = None
    pending_approval: bool | None = None
    reviewed: bool | None = None
    received_from: date | None = None
    received_to: date | None = None
    number: str | None = None
    state: str | None = None

    def chosen(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def query(self) -> dict[str, str]:
        """The filters as an address's (and casework's) query: booleans and days as their words."""
        return {name: _word(value) for name, value in self.chosen().items()}

    def link(self, *, after: str | None = None, back: Sequence[str] = ()) -> str:
        """The board's address for these filters, at the page `after` names (`back`: the pages before)."""
        pairs = [*self.query().items(), *((("after", after),) if after else ()), *(("back", b) for b in back)]
        return f"{BOARD.path}?{urlencode(pairs)}" if pairs else BOARD.path

    def quick(self, changes: Mapping[str, object]) -> BoardFilters:
        """A quick filter: the territory and state kept (casework counts within them), the rest its own."""
        return replace(BoardFilters(territory=self.territory, state=self.state), **changes)


def _word(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, date) else str(value)


def _flag(name: str, value: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise BadFilter(name)


def _choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value in choices:
        return value
    raise BadFilter(name)


def _matching(name: str, value: str, pattern: re.Pattern[str] | str) -> str:
    if re.fullmatch(pattern, value):
        return value
    raise BadFilter(name)


def _day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter(name) from None


PARSERS = {
    "grade": lambda v: _choice("grade", v, [level.value for level in RiskLevel]),
    "emergency": lambda v: _flag("emergency", v),
    "category": lambda v: _choice("category", v, [category.value for category in Category]),
    "territory": lambda v: _matching("territory", v, PREFIX_PATTERN),
    "stage": lambda v: _choice("stage", v, [stage.value for stage in Stage]),
    "owner": lambda v: _matching("owner", v, OWNER),
    "overdue": lambda v: _flag("overdue", v),
    "pending_approval": lambda v: _flag("pending_approval", v),
    "reviewed": lambda v: _flag("reviewed", v),
    "received_from": lambda v: _day("received_from", v),
    "received_to": lambda v: _day("received_to", v),
    "number": lambda v: _matching("number", v, CASE_NUMBER_PATTERN),
    "state": lambda v: _choice("state", v, STATES),
}


def filters_of(query: Mapping[str, str]) -> BoardFilters:
    """The filters an address (or the board's form) gives; a field left empty is no filter.
    Raises BadFilter naming the first filter that is not one of its choices."""
    given = {name: str(query.get(name) or "").strip() for name in PARSERS}
    filters = BoardFilters(**{name: PARSERS[name](value) for name, value in given.items() if value})
    if filters.received_from and filters.received_to and filters.received_from > filters.received_to:
        raise BadFilter("received_to")
    return filters


@dataclass(frozen=True)
class Paging:
    """Where the board is in its keyset pages: `after` this page's cursor, `back` the cursors of the
    pages before it ("" for the first), so the previous page is one link away."""

    after: str | None
    back: tuple[str, ...]

    @property
    def number(self) -> int:
        return len(self.back) + 1

    def next_link(self, filters: BoardFilters, cursor: str | None) -> str | None:
        return filters.link(after=cursor, back=(*self.back, self.after or "")) if cursor else None

    def previous_link(self, filters: BoardFilters) -> str | None:
        if not self.back:
            return None
        return filters.link(after=self.back[-1] or None, back=self.back[:-1])


def paging_of(after: str | None, back: Sequence[str]) -> Paging:
    """The page an address names; a cursor not shaped as casework gives them is a BadFilter."""
    for cursor in (after or "", *back):
        if cursor and not CURSOR.fullmatch(cursor):
            raise BadFilter("after")
    return Paging(after or None, tuple(back))


def board_address(
    query: Mapping[str, str], after: str | None, back: Sequence[str]
) -> tuple[BoardFilters, Paging, tuple[str, ...]]:
    """What an address asks the board for, as far as it can be read: the filters among their choices,
    the page, and the names of the filters (or `after`) left out because they are not (a link typed by
    hand, or forged, still shows the board, saying what was left out)."""
    chosen, refused = {}, []
    for name, parse in PARSERS.items():
        value = str(query.get(name) or "").strip()
        if value:
            try:
                chosen[name] = parse(value)
            except BadFilter:
                refused.append(name)
    filters = BoardFilters(**chosen)
    if filters.received_from and filters.received_to and filters.received_from > filters.received_to:
        filters, refused = replace(filters, received_to=None), [*refused, "received_to"]
    try:
        paging = paging_of(after, back)
    except BadFilter:
        paging, refused = Paging(None, ()), [*refused, "after"]
    return filters, paging, tuple(refused)


def quick_filters(filters: BoardFilters) -> list[tuple[str, str, bool]]:
    """Each quick filter as (its name, its address, whether the board shows it now)."""
    shown = []
    for name, changes in QUICK:
        target = filters.quick(changes)
        shown.append((name, target.link(), target == filters))
    return shown


@dataclass(frozen=True)
class Sought:
    """What the header's search box was given: a case number, a national ID number, a reporter's phone
    or a name."""

    kind: str  # "number", "national_id", "phone" or "name"
    text: str


# A case number's county and year ("140402-2026"): the start of a number, not a phone.
_CASE_NUMBER_START = re.compile(r"[0-9]{6}-[0-9]{4}")


def sought(text: str) -> Sought | None:
    """A case number goes to its case; an ID number (18 characters, or the old 15 digits) to the child
    search; so does anything else with a digit, as a reporter's phone when it is one (shared/phone.py),
    else as an ID number; and words, as a name."""
    text = " ".join(text.split())
    if not text:
        return None
    if re.fullmatch(CASE_NUMBER_PATTERN, text):
        return Sought("number", text)
    if re.fullmatch(NATIONAL_ID_PATTERN, text.replace(" ", "")):
        return Sought("national_id", text)
    if phone_number(text) is not None and not _CASE_NUMBER_START.match(text):
        return Sought("phone", text)
    return Sought("national_id" if any(ch.isdigit() for ch in text) else "name", text)
