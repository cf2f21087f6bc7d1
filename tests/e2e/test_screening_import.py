"""A county's screening survey imported into the running system: bad rows are named in the error
file, every surveyed child is registered once (matched when a report already knew it), rows with
a difficulty become graded cases, and neither a second import nor a kill -9 mid-way duplicates
a child, case or report."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.importer.columns import COLUMNS
from cpnet.importer.template import write_template
from shared.contracts.topics import TOPICS
from shared.messaging.admin import create_topics
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, national_id
from tests.e2e.test_intake_assessment import graded, kcat_produce
from tests.e2e.watch import TopicWatcher

REPORTED, ASSESSED, SCREENING = "case.reported", "case.assessed", "intake.screening.raw"
VILLAGE = "140402001001"
NO_SUCH_VILLAGE = VILLAGE[:-2] + "99"  # a code the territory registry does not hold
ROWS = 200
BAD = {
    7: {"sex": "X"},
    19: {"jurisdiction": NO_SUCH_VILLAGE},
    33: {"birth_date": "2001-01-01"},
    48: {"father": "不知道"},
    61: {"surveyed_at": "yesterday"},
    77: {"national_id": "12345"},
    90: {"name": None, "national_id": None},
    104: {"caregiver": None},
    150: {"category_1": None},
    181: {"health": "很好"},
}


def survey_row(n: int, tag: str, known: dict[int, dict]) -> dict:
    child = known.get(n) or {
        "name": f"儿童{tag}{n}",
        "national_id": national_id(),
        "birth_date": "2012-04-0" + str(1 + n % 9),
    }
    cells = {
        "surveyed_at": "2026-03-02",
        "surveyor_ref": f"S-{n % 7}",
        "jurisdiction": VILLAGE,
        "sex": "女 F",
        "address": f"府后街 {n} 号",
        "school": "长治市第一小学",
        "father": "外出务工 migrant_work",
        "mother": "在家 at_home",
        "caregiver": "母亲 mother",
        "school_status": "在校 enrolled",
        "health": "健康 healthy",
        "disability": "无 none",
        **child,
    }
    if n % 5 == 0:  # one child in five: a difficulty the survey found
        cells.update(category_1="留守流动缺乏有效监护 left_behind", indicator_1="留守 left_behind")
    return {**cells, **BAD.get(n, {})}


def write_survey(path: Path, tag: str, known: dict[int, dict]) -> Path:
    write_template(path)
    workbook = load_workbook(path)
    sheet = workbook.worksheets[0]
    for n in range(3, ROWS + 3):
        cells = survey_row(n, tag, known)
        sheet.append([cells.get(column.key) for column in COLUMNS])
    workbook.save(path)
    return path


def run_import(services: RunningServices, path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cpnet.cli", "import", "screening", str(path)],
        env={**services.env, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def file_id(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


async def caught_up(bootstrap: str, *, timeout: float = 120) -> None:
    """Intake's screening consumer has committed every record of its topic."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id="intake.screening", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(SCREENING, p) for p in range(TOPICS[SCREENING].partitions)]
        deadline = time.monotonic() + timeout
        while True:
            ends = await consumer.end_offsets(partitions)
            committed = {tp: await consumer.committed(tp) or 0 for tp in partitions}
            if all(committed[tp] >= ends[tp] for tp in partitions):
                return
            assert time.monotonic() < deadline, "intake did not catch up with the screening topic"
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()


async def stored(database_url: str, prefix: str) -> dict:
    """What intake keeps of one file's rows."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            screenings = (
                await connection.execute(
                    text(
                        "SELECT external_id, child_id, case_id FROM intake.screenings WHERE "
                        "external_id LIKE :p"
                    ),
                    {"p": f"{prefix}-%"},
                )
            ).all()
            reports = (
                await connection.execute(
                    text(
                        "SELECT external_id, case_id FROM intake.reports WHERE source = 'screening' "
                        "AND external_id LIKE :p"
                    ),
                    {"p": f"{prefix}-%"},
                )
            ).all()
            children = {row.child_id for row in screenings}
            cases = (
                await connection.execute(
                    text(
                        "SELECT child_id, count(*) AS n FROM intake.cases WHERE child_id = ANY(:c) "
                        "GROUP BY child_id"
                    ),
                    {"c": list(children)},
                )
            ).all()
    finally:
        await engine.dispose()
    # Sorted: a plan change between two reads must not count as a difference.
    return {
        "screenings": sorted(tuple(row) for row in screenings),
        "reports": sorted(tuple(row) for row in reports),
        "cases": {row.child_id: row.n for row in cases},
    }


def expected_rows() -> tuple[set[int], set[int]]:
    valid = set(range(3, ROWS + 3)) - set(BAD)
    return valid, {n for n in valid if n % 5 == 0}


async def test_a_survey_is_imported_once_matched_graded_and_resumed_after_kill_9(
    infra, services: RunningServices, tmp_path: Path
) -> None:
    await create_topics(infra.kafka_bootstrap, list(TOPICS.values()))
    valid, with_difficulty = expected_rows()
    tag = uuid.uuid4().hex[:6]
    # Three children a hotline report already made known; the survey finds them again.
    known_rows = {10: None, 55: None, 120: None}
    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED, ASSESSED]) as watcher:
        for n in known_rows:
            report = hotline_report(jurisdiction=VILLAGE)
            kcat_produce(infra.kafka_bootstrap, report)
            reported, _ = await graded(watcher, report["external_id"], timeout=60)
            child = report["child"]
            survey_child = {
                "name": child["name"],
                "national_id": child["national_id"],
                "birth_date": child["birth_date"],
            }
            known_rows[n] = (reported.json()["payload"]["child_ref"], survey_child)
        survey = write_survey(tmp_path / "survey.xlsx", tag, {n: c for n, (_, c) in known_rows.items()})
        prefix = file_id(survey)

        first = run_import(services, survey)
        assert first.returncode == 2, first.stderr  # done, with rows in the error file
        with (tmp_path / "survey.errors.csv").open(encoding="utf-8") as stream:
            errors = list(csv.DictReader(stream))
        assert {int(e["row"]) for e in errors} == set(BAD)
        assert not any(tag in json.dumps(e, ensure_ascii=False) for e in errors), "no value in the error file"

        # Every row with a difficulty is reported on the screening channel and graded.
        for n in sorted(with_difficulty):
            (reported,) = await watcher.wait_for(
                REPORTED, lambda s, n=n: s.json()["payload"]["external_id"] == f"{prefix}-{n}", timeout=120
            )
            assert reported.json()["payload"]["channel"] == "screening"
            case_id = reported.json()["case_id"]
            await watcher.wait_for(ASSESSED, lambda s, c=case_id: s.json()["case_id"] == c, timeout=120)
    await caught_up(infra.kafka_bootstrap)
    kept = await stored(infra.database_url, prefix)
    by_row = {int(external_id.rsplit("-", 1)[1]): child_id for external_id, child_id, _ in kept["screenings"]}
    assert set(by_row) == valid
    assert len(set(by_row.values())) == len(valid), "each surveyed child registered once"
    for n, (child_ref, _) in known_rows.items():
        assert str(by_row[n]) == child_ref, "a child known from a report is matched, not duplicated"
    assert {int(external_id.rsplit("-", 1)[1]) for external_id, _ in kept["reports"]} == with_difficulty
    assert all(count == 1 for count in kept["cases"].values())

    second = run_import(services, survey)
    assert second.returncode == 2, second.stderr
    await caught_up(infra.kafka_bootstrap)
    assert await stored(infra.database_url, prefix) == kept, "importing the same file again creates nothing"

    # Killed mid-way (one row per batch makes it slow enough), then resumed.
    other = write_survey(tmp_path / "other.xlsx", uuid.uuid4().hex[:6], {})
    state = tmp_path / "other.xlsx.import-state"
    process = subprocess.Popen(
        [sys.executable, "-m", "cpnet.cli", "import", "screening", str(other)],
        env={**services.env, "CPNET_IMPORT_BATCH_SIZE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (state.exists() and json.loads(state.read_text())["acknowledged_row"] >= 60):
        assert process.poll() is None and time.monotonic() < deadline, "the import ended before it was killed"
        await asyncio.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stopped_at = json.loads(state.read_text())["acknowledged_row"]
    assert stopped_at < ROWS + 2
    resumed = run_import(services, other)
    assert resumed.returncode == 2, resumed.stderr
    assert f"resuming other.xlsx after row {stopped_at}" in resumed.stderr
    assert not state.exists()
    await caught_up(infra.kafka_bootstrap)
    after = await stored(infra.database_url, file_id(other))
    assert {int(external_id.rsplit("-", 1)[1]) for external_id, _, _ in after["screenings"]} == valid
    assert len({child_id for _, child_id, _ in after["screenings"]}) == len(valid)
    assert sorted(int(external_id.rsplit("-", 1)[1]) for external_id, _ in after["reports"]) == sorted(
        with_difficulty
    )
    assert all(count == 1 for count in after["cases"].values())


async def test_an_import_stopped_by_sigterm_says_where_and_resumes_with_every_row_once(
    infra, services: RunningServices, tmp_path: Path
) -> None:
    """Stopped the way a process supervisor stops it (SIGTERM; SIGINT inherited ignored, as a
    background job's), the import ends cleanly before its next batch, names the row it resumes after,
    and the same command then imports the rest: every surveyed child once."""
    await create_topics(infra.kafka_bootstrap, list(TOPICS.values()))
    valid, with_difficulty = expected_rows()
    survey = write_survey(tmp_path / "stopped.xlsx", uuid.uuid4().hex[:6], {})
    state = tmp_path / "stopped.xlsx.import-state"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cpnet.cli",
        "import",
        "screening",
        str(survey),
        env={**services.env, "CPNET_IMPORT_BATCH_SIZE": "1"},  # one row a batch: slow enough to stop
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509
    )
    deadline = time.monotonic() + 120
    while not (state.exists() and json.loads(state.read_text())["acknowledged_row"] >= 40):
        assert process.returncode is None and time.monotonic() < deadline, (
            "the import ended before it was stopped"
        )
        await asyncio.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, said = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 130, said.decode()[-2000:]
    stopped_at = json.loads(state.read_text())["acknowledged_row"]
    assert f"stopped after row {stopped_at}: run the same command again to resume" in said.decode()
    assert stopped_at < ROWS + 2, "stopped half-way (else this proves nothing)"

    resumed = run_import(services, survey)
    assert resumed.returncode == 2, resumed.stderr  # done, with the bad rows in the error file
    assert f"resuming stopped.xlsx after row {stopped_at}" in resumed.stderr
    await caught_up(infra.kafka_bootstrap)
    kept = await stored(infra.database_url, file_id(survey))
    assert {int(external_id.rsplit("-", 1)[1]) for external_id, _, _ in kept["screenings"]} == valid
    assert len({child_id for _, child_id, _ in kept["screenings"]}) == len(valid)
    assert sorted(int(external_id.rsplit("-", 1)[1]) for external_id, _ in kept["reports"]) == sorted(
        with_difficulty
    )
    assert all(count == 1 for count in kept["cases"].values())
