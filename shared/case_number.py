"""The case number people say and write (个案编号), e.g. 140402-2026-00123: the county of the case, the
year it opened in China Standard Time, and a sequence of that county and year. The one home of its
format, and of how a batch's new cases share out the range of numbers it reserved. Pure."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.contracts.vocabulary import CASE_NUMBER_PATTERN, CHINA_STANDARD_TIME
from shared.territory.code import DIGITS, TerritoryCode, TerritoryLevel

# Zero-padded to five digits; a county's year past 99999 cases simply takes more.
SEQUENCE_DIGITS = 5
MAX_SEQUENCE = 10**9 - 1  # nine digits: what the contract's pattern allows
COUNTY_DIGITS = DIGITS[TerritoryLevel.county]
_NUMBER = re.compile(CASE_NUMBER_PATTERN)
_COUNTY = re.compile(f"[0-9]{{{COUNTY_DIGITS}}}")

CounterKey = tuple[str, int]
"""What numbers are counted by: (county, year)."""


@dataclass(frozen=True, order=True)
class CaseNumberParts:
    """A case number taken apart. `str()` gives the one spelling; `parse` takes only that spelling."""

    county: str
    year: int
    sequence: int

    def __post_init__(self) -> None:
        if not (isinstance(self.county, str) and _COUNTY.fullmatch(self.county)):
            raise ValueError(f"a case number's county has {COUNTY_DIGITS} digits")
        if not 1000 <= self.year <= 9999:
            raise ValueError("a case number's year has four digits")
        if not 1 <= self.sequence <= MAX_SEQUENCE:
            raise ValueError(f"a case number's sequence runs from 1 to {MAX_SEQUENCE}")

    def __str__(self) -> str:
        return f"{self.county}-{self.year:04d}-{self.sequence:0{SEQUENCE_DIGITS}d}"

    @classmethod
    def parse(cls, text: str) -> CaseNumberParts:
        """Raises ValueError for anything but a number as `str()` spells it (no extra leading zeros)."""
        if not isinstance(text, str) or not _NUMBER.fullmatch(text):
            raise ValueError("not a case number (e.g. 140402-2026-00123)")
        county, year, sequence = text.split("-")
        parts = cls(county, int(year), int(sequence))
        if str(parts) != text:
            raise ValueError("not a case number: its sequence has more leading zeros than five digits need")
        return parts


def county_of(jurisdiction: str) -> str:
    """The county a 12-digit territory code lies in: its first six digits."""
    return TerritoryCode(jurisdiction).code[:COUNTY_DIGITS]


def year_of(opened_at: datetime) -> int:
    """The year a case opened, in China Standard Time (a case opened on 31 December at 23:00 UTC
    belongs to the next year)."""
    if opened_at.tzinfo is None:
        raise ValueError("the moment a case opened must carry its time zone")
    return opened_at.astimezone(CHINA_STANDARD_TIME).year


def counter_of(jurisdiction: str, opened_at: datetime) -> CounterKey:
    """The counter a case opened at `jurisdiction` at `opened_at` takes its number from."""
    return county_of(jurisdiction), year_of(opened_at)


def tally(counters: Sequence[CounterKey]) -> list[tuple[str, int, int]]:
    """(county, year, how many) for each counter a batch needs, in key order: the order its counters
    are locked in, so that two batches never wait for each other's in turn."""
    return sorted((county, year, n) for (county, year), n in Counter(counters).items())


def numbers_in(counters: Sequence[CounterKey], last: Mapping[CounterKey, int]) -> list[str]:
    """The numbers of the new cases, in order, from the ranges reserved: each counter's range ends at
    `last` (the counter after the reservation) and holds as many numbers as the batch asked of it."""
    needed = Counter(counters)
    following = {counter: last[counter] - n + 1 for counter, n in needed.items()}
    numbers = []
    for county, year in counters:
        numbers.append(str(CaseNumberParts(county, year, following[county, year])))
        following[county, year] += 1
    return numbers
