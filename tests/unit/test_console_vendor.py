"""The console's vendored front-end file is the npm package's own, with its licence beside it."""

from __future__ import annotations

import hashlib
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "services" / "console" / "static" / "vendor" / "htmx"


def test_htmx_is_the_npm_packages_file_with_its_licence() -> None:
    digest = hashlib.sha256((VENDOR / "htmx.min.js").read_bytes()).hexdigest()
    assert digest == "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
    assert "Zero-Clause BSD" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert "2.0.11" in (VENDOR / "README.md").read_text(encoding="utf-8")
