"""The two locks: requirements.lock (development and tests) and requirements.runtime.lock
(the production image) pin the same versions with the same hashes, and the image's lock
carries no test tools and a pinned build backend."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)")


def pins(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """package → (version, hashes)."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    package = None
    for line in (ROOT / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            package = match[1].lower().replace("_", "-")
            found[package] = (match[2], frozenset())
        elif package and "--hash=" in line:
            version, hashes = found[package]
            found[package] = (version, hashes | {line.split("--hash=")[1].strip(" \\")})
    return found


def requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_image_lock_pins_what_the_tests_ran_with() -> None:
    development, runtime = pins("requirements.lock"), pins("requirements.runtime.lock")
    differing = {
        p: (development[p][0], v)
        for p, (v, _) in runtime.items()
        if p in development and development[p][0] != v
    }
    assert not differing, f"versions differ between the locks: {differing}"
    assert all(runtime[p][1] == development[p][1] for p in runtime if p in development), "hashes differ"
    assert all(hashes for _, hashes in runtime.values()), "every pin carries its hashes"


def test_the_image_lock_has_every_run_time_dependency_and_no_test_tool() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = pins("requirements.runtime.lock")
    missing = {requirement_name(r) for r in project["project"]["dependencies"]} - set(runtime)
    assert not missing
    for tool in (*map(requirement_name, project["dependency-groups"]["dev"]), "docker"):
        assert tool not in runtime, f"{tool} would ship in the production image"
    assert "hatchling" in runtime, "the build backend is pinned, not fetched at build time"
