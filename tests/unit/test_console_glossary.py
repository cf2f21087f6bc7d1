"""The console speaks the trade's Chinese: every catalog entry the repository's glossary names says
the glossary's term, and Chinese text never uses half-width punctuation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
GLOSSARY = ROOT / "docs" / "GLOSSARY.md"
CATALOG = ROOT / "services" / "console" / "locales" / "zh_CN" / "LC_MESSAGES" / "messages.po"
CJK = r"[\u3400-\u9fff]"


def glossary_entries() -> list[tuple[str, str]]:
    """(catalog entry, the words it must say) for every entry the glossary's table names: the row's
    term, or the words after an arrow (`Record a home visit` → 记录入户调查)."""
    entries = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.search(CJK, cells[0]) or "`" not in cells[2]:
            continue
        term, _, used = cells
        for part in used.split(", "):
            key, _, said = part.partition(" → ")
            entries.append((key.strip().strip("`"), said.strip() or term))
    return entries


def zh_catalog() -> dict[str, str]:
    """Each entry's Chinese; a plural entry by its singular, its forms on lines of their own."""
    with open(CATALOG, "rb") as handle:
        return {
            message.id if isinstance(message.id, str) else message.id[0]: message.string
            if isinstance(message.string, str)
            else "\n".join(message.string)
            for message in read_po(handle)
            if message.id
        }


def test_the_glossary_names_catalog_entries() -> None:
    assert len(glossary_entries()) >= 25


@pytest.mark.parametrize(("entry", "words"), glossary_entries(), ids=str)
def test_the_catalog_says_the_glossarys_words(entry: str, words: str) -> None:
    assert zh_catalog().get(entry) == words


def test_chinese_text_has_full_width_punctuation() -> None:
    half_width = re.compile(CJK + r"\s*[,:;()!?]|[,:;()!?]\s*" + CJK)
    placeholders = re.compile(r"%\(\w+\)[sd]|\{\w*\}")
    wrong = {
        entry: text for entry, text in zh_catalog().items() if half_width.search(placeholders.sub("", text))
    }
    assert wrong == {}
