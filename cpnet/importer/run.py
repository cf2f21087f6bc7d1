"""`cpnet import screening FILE`: validate each row, write the bad ones to an error file, publish
the rest to `intake.screening.raw` in acknowledged batches, and resume an interrupted import."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from cpnet.importer.backlog import Backlog
from cpnet.importer.readers import ImportFailed, ImportStopped, count_rows, read_rows
from cpnet.importer.rows import ROW, RowError, validate_row
from cpnet.signals import stop_on_signals
from shared.contracts.screening import ScreeningRecord
from shared.errors import ConfigurationError
from shared.messaging.security import client_security
from shared.settings import Settings
from shared.territory.registry import TerritoryError, load_territory

FILE_ID_DIGITS = 16
CLIENT_ID = "cpnet-screening-import"
ERROR_HEADER = ("row", "column", "rule")


@dataclass
class ImportState:
    """How far an import got: every row up to `acknowledged_row` was published and confirmed."""

    digest: str
    acknowledged_row: int = 0

    @classmethod
    def load(cls, path: Path, digest: str) -> ImportState:
        """The state of an earlier, interrupted import of this very file; a fresh one otherwise."""
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(digest)
        if not isinstance(saved, dict) or saved.get("digest") != digest:
            return cls(digest)  # another file, or this one edited since: its rows have new ids
        return cls(digest, int(saved.get("acknowledged_row", 0)))

    def save(self, path: Path) -> None:
        # Written aside and renamed, so a kill mid-write leaves the previous state whole.
        partial = path.with_name(path.name + ".partial")
        partial.write_text(
            json.dumps({"digest": self.digest, "acknowledged_row": self.acknowledged_row}), encoding="utf-8"
        )
        os.replace(partial, path)


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    published: int
    already_published: int  # rows an interrupted import had confirmed; not sent again
    bad_rows: int
    errors_path: Path


def default_errors_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.errors.csv")


def default_state_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.import-state")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ImportFailed(f"{path.name}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    return digest.hexdigest()


class _RowsPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed or 0:,.0f} rows/s", style="progress.data.speed")


async def import_screening(
    path: Path,
    *,
    settings: Settings,
    errors_path: Path,
    state_path: Path,
    batch_size: int,
    console: Console,
    max_backlog: int = 0,
    stop: asyncio.Event | None = None,
) -> ImportSummary:
    """Import one survey file; returns what it did. Raises ImportFailed for a file it cannot read.
    With `max_backlog`, each batch waits until the stages shared with live reports have at most
    that many records queued, and intake at most one batch (cpnet/importer/backlog.py): live
    reports keep their lane. A `stop` set (SIGTERM, Ctrl-C) ends the import before its next batch is
    published: ImportStopped names the last row published, and the same command resumes after it."""
    stop = stop or asyncio.Event()
    digest = file_digest(path)
    state = ImportState.load(state_path, digest)
    try:
        territory = load_territory(settings.territory_file)
    except TerritoryError as exc:
        raise ConfigurationError(str(exc)) from None
    if state.acknowledged_row:
        console.print(f"resuming {path.name} after row {state.acknowledged_row}")
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=CLIENT_ID,
        acks="all",
        enable_idempotence=True,
        **client_security(settings),
    )
    await producer.start()
    rows = published = skipped = bad = 0
    try:
        async with AsyncExitStack() as stack:
            errors_file = stack.enter_context(errors_path.open("w", encoding="utf-8", newline=""))
            backlog = await stack.enter_async_context(Backlog(settings)) if max_backlog else None
            progress = stack.enter_context(_progress(console))
            task = progress.add_task(path.name, total=count_rows(path))
            errors = csv.writer(errors_file)
            errors.writerow(ERROR_HEADER)
            batch: list[ScreeningRecord] = []

            def waiting(queued: int | None) -> None:
                progress.update(
                    task,
                    description=path.name
                    if queued is None
                    else f"{path.name} (waiting: {queued:,} queued in the pipeline)",
                )

            def stop_here() -> None:
                if stop.is_set():
                    raise ImportStopped(
                        f"stopped after row {state.acknowledged_row}: run the same command again to resume"
                    )

            async def flush(last_row: int) -> None:
                nonlocal published
                if batch and backlog is not None:
                    # At most one batch waits for intake besides this one.
                    await backlog.wait_below(batch_size, max_backlog, waiting, stop)
                stop_here()
                await _publish(producer, batch)
                published += len(batch)
                batch.clear()
                state.acknowledged_row = last_row
                state.save(state_path)

            last_row = 0
            # Every row is validated again on a resume, so the error file is whole; only rows
            # past the acknowledged one are sent.
            for row in read_rows(path):
                stop_here()
                rows, last_row = rows + 1, row.number
                progress.update(task, completed=row.number)
                outcome = (
                    [RowError(row.number, ROW, row.problem)]
                    if row.problem
                    else validate_row(
                        row.cells, row=row.number, file_id=digest[:FILE_ID_DIGITS], territory=territory
                    )
                )
                if isinstance(outcome, list):
                    bad += 1
                    errors.writerows((e.row, e.column, e.rule) for e in outcome)
                elif row.number <= state.acknowledged_row:
                    skipped += 1
                else:
                    batch.append(outcome)
                    if len(batch) >= batch_size:
                        await flush(row.number)
            await flush(last_row)
            progress.update(task, completed=last_row, total=last_row)
    except KafkaError as exc:
        raise ImportFailed(
            f"Kafka failed ({type(exc).__name__}); the import stopped after row "
            f"{state.acknowledged_row}: run it again to resume"
        ) from None
    finally:
        await producer.stop()
    state_path.unlink(missing_ok=True)  # noqa: ASYNC240 - done: importing the file again re-sends it, and changes nothing
    return ImportSummary(rows, published, skipped, bad, errors_path)


async def _publish(producer: AIOKafkaProducer, batch: list[ScreeningRecord]) -> None:
    """Send a batch and wait until the broker has confirmed every record of it."""
    sent = [
        await producer.send(
            ScreeningRecord.TOPIC, record.model_dump_json().encode(), key=record.external_id.encode()
        )
        for record in batch
    ]
    await asyncio.gather(*sent)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RowsPerSecond(),
        TimeRemainingColumn(),
        console=console,
    )


def run_import(
    path: Path,
    *,
    settings: Settings,
    errors_path: Path | None,
    state_path: Path | None,
    batch_size: int,
    echo: Callable[[str], None],
    max_backlog: int = 0,
) -> ImportSummary:
    errors_path = errors_path or default_errors_path(path)

    async def until_done_or_stopped() -> ImportSummary:
        with stop_on_signals(asyncio.Event()) as stop:
            return await import_screening(
                path,
                settings=settings,
                errors_path=errors_path,
                state_path=state_path or default_state_path(path),
                batch_size=batch_size,
                console=Console(stderr=True),
                max_backlog=max_backlog,
                stop=stop,
            )

    summary = asyncio.run(until_done_or_stopped())
    echo(
        f"{path.name}: {summary.rows} rows, {summary.published} published"
        + (f" ({summary.already_published} already published before)" if summary.already_published else "")
        + f", {summary.bad_rows} bad"
        + (f" (see {summary.errors_path})" if summary.bad_rows else "")
    )
    return summary
