"""The console's two languages: every string a person reads comes from the Babel catalogs
(`services/console/locales/<locale>/LC_MESSAGES/messages.po`, zh-CN first, English), compiled in
memory at start-up (no build step). A code — a grade, a category, an agency, a reason — is shown
as the words its catalog gives `<kind>:<code>`, never as the code."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from babel.dates import format_date, format_datetime, format_skeleton, get_timezone
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from shared.territory.code import TerritoryLevel
from shared.territory.registry import TerritoryRegistry

LOCALES_DIR = Path(__file__).parent / "locales"
LOCALES = ("zh_CN", "en")  # the first is the default: the people who use it read Chinese first
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}
CITY_TIME = get_timezone("Asia/Shanghai")  # dates are read in China Standard Time


def load_catalog(locale: str) -> Translations:
    """A locale's catalog, compiled from its .po file."""
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The locale to answer in: the person's choice (a cookie), else the browser's
    Accept-Language, else Chinese."""
    if chosen in LOCALES:
        return chosen
    wanted = []
    for part in (accept_language or "").split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag:
            wanted.append((weight, tag.replace("-", "_")))
    for _, tag in sorted(wanted, key=lambda w: -w[0]):
        language = tag.split("_")[0].casefold()
        for locale in LOCALES:  # the exact tag, else the language (zh-TW still reads zh-CN best here)
            if tag.casefold() == locale.casefold() or language == locale.split("_")[0].casefold():
                return locale
    return LOCALES[0]


@dataclass(frozen=True)
class Language:
    """What a page needs to speak one locale: its words, its codes' words, its places, its dates."""

    locale: str
    translations: Translations
    territory: TerritoryRegistry | None = None

    def place(self, code: str | None) -> str:
        """A territory code as the names of its county, township and village (the registry's), or
        the code itself when the registry does not hold it."""
        if not code or self.territory is None or code not in self.territory:
            return code or ""
        chain = [
            node for node in reversed(self.territory.chain(code)) if node.level is not TerritoryLevel.city
        ]
        return " › ".join(node.name(self.html_lang) for node in chain) or self.territory.node(code).name(
            self.html_lang
        )

    def villages(self, prefix: str) -> list[tuple[str, str]]:
        """Every village of the territory under `prefix`, as (code, its place's names), by name."""
        return self.places(prefix, (TerritoryLevel.village,))

    def places(self, prefix: str, levels: tuple[TerritoryLevel, ...]) -> list[tuple[str, str]]:
        """Every node of those levels under `prefix`, as (code, its place's names), by name (a
        township just before its villages)."""
        if self.territory is None:
            return []
        found = [
            (node.code, self.place(node.code))
            for node in self.territory.nodes
            if node.level in levels and node.code.startswith(prefix)
        ]
        return sorted(found, key=lambda pair: pair[1])

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def label(self, kind: str, code: str | None) -> str:
        """The words for a code of `kind` (e.g. `risk_level`, `red`)."""
        if code is None:
            return self.gettext(f"{kind}:none")
        return self.gettext(f"{kind}:{code}")

    def factor(self, code: str) -> str:
        """A grade's factor (services/assessment/grading.py names them) as words."""
        for prefix, kind in (
            ("forcing_", "indicator"),
            ("category_", "category"),
            ("indicator_", "indicator"),
        ):
            if code.startswith(prefix):
                words = self.label(kind, code.removeprefix(prefix))
                return self.gettext("factor:forcing").format(what=words) if prefix == "forcing_" else words
        for prefix in ("earlier_reports_", "age_under_"):
            if code.startswith(prefix) and code.removeprefix(prefix).isdigit():
                return self.gettext(f"factor:{prefix.rstrip('_')}").format(n=code.removeprefix(prefix))
        return self.gettext(f"factor:{code}")

    def labels(self, kind: str, codes: Iterable[str]) -> str:
        return self.gettext("list:separator").join(self.label(kind, code) for code in codes)

    def when(self, moment: datetime | str | None) -> str:
        """A date and time in the person's locale (and the city's time zone, China Standard Time)."""
        if moment is None:
            return ""
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        return format_datetime(moment, "medium", tzinfo=CITY_TIME, locale=self.locale)

    def day(self, moment: date | str, *, short: bool = False) -> str:
        """A calendar day in the person's locale (short: month and day only)."""
        if isinstance(moment, str):
            moment = date.fromisoformat(moment)
        if short:
            return format_skeleton("MMMd", moment, locale=self.locale)
        return format_date(moment, "medium", locale=self.locale)

    @property
    def html_lang(self) -> str:
        return self.locale.replace("_", "-")


def languages(territory: TerritoryRegistry | None = None) -> dict[str, Language]:
    return {locale: Language(locale, load_catalog(locale), territory) for locale in LOCALES}
