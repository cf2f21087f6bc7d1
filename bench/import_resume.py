"""The resume benchmark: a county's survey as an XLSX file, imported as a user imports it
(`cpnet import screening`), killed with SIGKILL part-way, run again to the end and once more; then
what intake keeps is counted: every good row once, no child, case or report twice, every bad row in
the error file."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import text

from bench.flow import SCREENING_GROUP, ConsumerLag
from bench.services import BenchFailed, Fleet
from bench.survey import write_survey
from cpnet.importer.columns import COLUMNS
from cpnet.importer.run import FILE_ID_DIGITS, default_errors_path, default_state_path, file_digest
from shared.contracts.screening import ScreeningRecord
from shared.db.engine import make_engine
from shared.messaging.security import client_security
from shared.sample_reports import villages
from shared.settings import Settings
from shared.territory.registry import load_territory

FIRST_ROW = 3  # below the zh-CN and the English header rows, as in `cpnet import template`
# What a careless surveyor's spreadsheet holds; each breaks one rule of cpnet/importer/rows.py.
BREAKAGES: tuple[tuple[str, str], ...] = (
    ("national_id", "1101012016050100"),
    ("jurisdiction", "999999999999"),
    ("birth_date", "2016-13-45"),
    ("sex", "?"),
)


@dataclass(frozen=True)
class SurveyFile:
    path: Path
    rows: int
    bad_rows: set[int]  # file row numbers
    identities: int  # distinct children among the good rows: by ID number, else name, birth date and village


def write_xlsx(
    path: Path, rows: int, *, bad_share: float, places: list[str], run: str, rng: random.Random
) -> SurveyFile:
    """The benchmark survey (bench/survey.py) as an XLSX workbook with both header rows; about
    `bad_share` of the rows broken one way or another."""
    plain = write_survey(path.with_suffix(".csv"), rows, places=places, run=run, rng=rng, known=[])
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("survey")
    sheet.append([column.zh for column in COLUMNS])
    sheet.append([column.en for column in COLUMNS])
    keys = [column.key for column in COLUMNS]
    bad: set[int] = set()
    identities: set[tuple[str, ...]] = set()
    with plain.path.open(encoding="utf-8", newline="") as stream:
        lines = csv.reader(stream)
        next(lines)
        for number, cells in enumerate(lines, start=FIRST_ROW):
            if rng.random() < bad_share:
                key, broken = rng.choice(BREAKAGES)
                cells[keys.index(key)] = broken
                bad.add(number)
            else:
                row = dict(zip(keys, cells, strict=True))
                identities.add(
                    (row["national_id"],)
                    if row["national_id"]
                    else (row["name"], row["birth_date"], row["jurisdiction"])
                )
            sheet.append([cell or None for cell in cells])
    workbook.save(path)
    plain.path.unlink()
    return SurveyFile(path, rows, bad, len(identities))


async def _start_import(survey: SurveyFile, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cpnet.cli",
            "import",
            "screening",
            str(survey.path),
            env=dict(os.environ),
            stdout=output,
            stderr=output,
        )


def _acknowledged(state: Path) -> int:
    try:
        return int(json.loads(state.read_text())["acknowledged_row"])
    except (OSError, ValueError, KeyError):
        return 0


async def import_killed_at(
    survey: SurveyFile, *, at_row: int, log: Path, timeout_s: float
) -> tuple[int, float]:
    """The import, killed with SIGKILL once it has confirmed `at_row`; the row it had confirmed, and when."""
    state = default_state_path(survey.path)
    started = time.monotonic()
    process = await _start_import(survey, log)
    try:
        while _acknowledged(state) < at_row:
            if process.returncode is not None:
                raise BenchFailed(f"the import ended before it was killed:\n{log.read_text()[-1500:]}")
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"the import did not reach row {at_row} within {timeout_s:.0f} s")
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return _acknowledged(state), time.monotonic() - started


async def import_to_the_end(survey: SurveyFile, *, log: Path, timeout_s: float) -> tuple[int, float]:
    """The import run to its end; its exit code (2: some rows went to the error file) and wall time."""
    started = time.monotonic()
    process = await _start_import(survey, log)
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, time.monotonic() - started


async def kept(settings: Settings, survey: SurveyFile) -> dict[str, int]:
    """What intake keeps of the file's rows, counted in the database."""
    prefix = f"{file_digest(survey.path)[:FILE_ID_DIGITS]}-%"
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            screenings = (
                await conn.execute(
                    text(
                        "SELECT count(*) AS rows, count(DISTINCT external_id) AS ids, "
                        "count(DISTINCT child_id) AS children "
                        "FROM intake.screenings WHERE external_id LIKE :p"
                    ),
                    {"p": prefix},
                )
            ).one()
            reports = (
                await conn.execute(
                    text(
                        "SELECT count(*) AS rows, count(DISTINCT external_id) AS ids FROM intake.reports "
                        "WHERE source = 'screening' AND external_id LIKE :p"
                    ),
                    {"p": prefix},
                )
            ).one()
            cases = (
                await conn.execute(
                    text(
                        "SELECT count(*) AS cases, count(DISTINCT c.child_id) AS children "
                        "FROM intake.cases c WHERE c.child_id IN "
                        "(SELECT child_id FROM intake.screenings WHERE external_id LIKE :p)"
                    ),
                    {"p": prefix},
                )
            ).one()
    finally:
        await engine.dispose()
    return {
        "screenings": screenings.rows,
        "screening_ids": screenings.ids,
        "children": screenings.children,
        "reports": reports.rows,
        "report_ids": reports.ids,
        "cases": cases.cases,
        "children_with_a_case": cases.children,
    }


def error_rows(survey: SurveyFile) -> list[int]:
    with default_errors_path(survey.path).open(encoding="utf-8", newline="") as stream:
        lines = csv.reader(stream)
        next(lines)
        return [int(line[0]) for line in lines]


async def run_import_resume(
    settings: Settings,
    fleet: Fleet,
    *,
    rows: int,
    bad_share: float,
    kill_at: float,
    seed: int,
    timeout_s: float,
    say: Callable[[str], None],
) -> dict[str, Any]:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    places = villages(load_territory(settings.territory_file))
    security = client_security(settings)
    with tempfile.TemporaryDirectory(prefix="cpnet-bench-resume-") as directory:
        began = time.perf_counter()
        survey = write_xlsx(
            Path(directory) / f"survey-{run}.xlsx", rows, bad_share=bad_share, places=places, run=run, rng=rng
        )
        say(
            f"{rows:,} rows written as XLSX in {time.perf_counter() - began:.1f} s "
            f"({len(survey.bad_rows):,} broken on purpose, {survey.path.stat().st_size / 2**20:.1f} MiB)"
        )
        log = Path(directory) / "import.log"
        at_row = FIRST_ROW + round(rows * kill_at)
        stopped_at, killed_after = await import_killed_at(survey, at_row=at_row, log=log, timeout_s=timeout_s)
        say(f"killed with SIGKILL after {killed_after:.1f} s, row {stopped_at:,} confirmed; resuming…")
        code, resumed_s = await import_to_the_end(survey, log=log, timeout_s=timeout_s)
        resumed = f"resuming {survey.path.name} after row {stopped_at}" in log.read_text(errors="replace")
        async with ConsumerLag(settings.kafka_bootstrap, security) as lag:
            while await lag.of(SCREENING_GROUP, ScreeningRecord.TOPIC):
                await asyncio.sleep(0.5)
            after_resume = await kept(settings, survey)
            say("imported; importing the same file once more…")
            again_code, again_s = await import_to_the_end(survey, log=log, timeout_s=timeout_s)
            while await lag.of(SCREENING_GROUP, ScreeningRecord.TOPIC):
                await asyncio.sleep(0.5)
            after_again = await kept(settings, survey)
        listed = error_rows(survey)
        wall = killed_after + resumed_s
    good = rows - len(survey.bad_rows)
    return {
        "rows": rows,
        "bad_rows": len(survey.bad_rows),
        "good_rows": good,
        "identities": survey.identities,
        "kill_at_row": at_row,
        "confirmed_when_killed": stopped_at,
        "killed_after_s": killed_after,
        "resumed_s": resumed_s,
        "said_it_resumed": resumed,
        "exit_code": code,
        "rows_per_s": rows / wall if wall else None,
        "kept": after_resume,
        "again": {"exit_code": again_code, "seconds": again_s, "kept": after_again},
        "created_by_second_import": {k: after_again[k] - after_resume[k] for k in after_resume},
        "duplicates": {
            "screening rows": after_resume["screenings"] - after_resume["screening_ids"],
            "children": after_resume["children"] - survey.identities,
            "reports": after_resume["reports"] - after_resume["report_ids"],
            "cases": after_resume["cases"] - after_resume["children_with_a_case"],
        },
        "good_rows_missing": good - after_resume["screening_ids"],
        "error_file": {
            "rows": len(set(listed)),
            "bad_rows_missing": len(survey.bad_rows - set(listed)),
            "good_rows_listed": len(set(listed) - survey.bad_rows),
        },
    }


def table_rows(figures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    kept_rows, again = figures["kept"], figures["again"]
    rows: list[tuple[str, Any, str]] = [
        ("survey (XLSX)", "", ""),
        ("  rows", figures["rows"], ""),
        ("  broken on purpose", figures["bad_rows"], ""),
        ("killed with SIGKILL", "", ""),
        ("  after", figures["killed_after_s"], " s"),
        ("  rows confirmed then", figures["confirmed_when_killed"], ""),
        ("resumed to the end", "", ""),
        ("  wall time", figures["resumed_s"], " s"),
        ("  said where it resumed", "yes" if figures["said_it_resumed"] else "NO", ""),
        ("  exit code (2: bad rows listed)", figures["exit_code"], ""),
        ("  rows/s, both runs", figures["rows_per_s"], ""),
        ("kept by intake", "", ""),
        ("  screening rows", kept_rows["screenings"], ""),
        ("  good rows missing", figures["good_rows_missing"], ""),
        ("  children", kept_rows["children"], ""),
        ("  … distinct children in the file", figures["identities"], ""),
        ("  reports (rows with a difficulty)", kept_rows["reports"], ""),
        ("  cases", kept_rows["cases"], ""),
        ("duplicates", "", ""),
    ]
    rows += [(f"  {name}", n, "") for name, n in figures["duplicates"].items()]
    rows += [
        ("error file", "", ""),
        ("  rows listed", figures["error_file"]["rows"], ""),
        ("  bad rows not listed", figures["error_file"]["bad_rows_missing"], ""),
        ("  good rows listed", figures["error_file"]["good_rows_listed"], ""),
        ("the same file imported again", "", ""),
        ("  wall time", again["seconds"], " s"),
    ]
    rows += [(f"  new {name}", n, "") for name, n in figures["created_by_second_import"].items()]
    return rows
