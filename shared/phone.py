"""A phone number as people write it ("138 0013 8000", "+86-138-0013-8000", "(0351) 123-4567") and the
one spelling a number is matched by: its national significant number, the digits without China's
country code or the domestic trunk 0 — so every way of writing one number gives one digest. Pure."""

from __future__ import annotations

import re
import unicodedata

CHINA = "86"
MIN_DIGITS, MAX_DIGITS = 7, 15  # a local number without its area code; E.164's longest
# What people put between a number's digits; the contract's pattern allows spaces, dashes and brackets.
_SEPARATORS = re.compile(r"[\s()\-.]")
_MOBILE = re.compile(r"1[0-9]{10}")
_SPELLED = re.compile(r"\+?[0-9]+")


def normalise_phone(text: str) -> str:
    """The number without separators, China's country code (+86, 0086, or 86 before a mobile number)
    or the trunk 0 of a domestic area code; another country's number keeps its code after a "+"."""
    # NFKC first: IME input often gives full-width digits, spaces and plus signs.
    compact = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    if compact.startswith("00"):  # China's international prefix, as "+" is everyone's
        compact = "+" + compact[2:]
    if compact.startswith("+" + CHINA):
        national = compact[1 + len(CHINA) :]
    elif compact.startswith("+"):
        return compact
    elif compact.startswith(CHINA) and _MOBILE.fullmatch(compact[len(CHINA) :]):
        national = compact[len(CHINA) :]
    else:
        national = compact
    # "0351 1234567" at home is "+86 351 1234567" from abroad (and some write "+86 (0)351…").
    return national[1:] if national.startswith("0") else national


def phone_number(text: str) -> str | None:
    """The number `text` spells, normalised, if it is one: digits with separators, perhaps after a "+",
    MIN_DIGITS to MAX_DIGITS of them; else None."""
    number = normalise_phone(text)
    if not _SPELLED.fullmatch(number) or not MIN_DIGITS <= len(number.lstrip("+")) <= MAX_DIGITS:
        return None
    return number
