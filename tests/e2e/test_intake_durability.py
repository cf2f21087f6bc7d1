"""Intake never answers 2xx for a report it has not durably stored: with its database cut
off it answers 503, and the client's retry with the same Idempotency-Key stores it once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.conftest import _free_port
from tests.e2e.reports import hotline_report, token


class CuttableProxy:
    """A TCP forwarder to PostgreSQL that the test can cut (dropping every connection and
    refusing new ones) and restore: a database outage without stopping the shared server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self.server: asyncio.base_events.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.links):
            writer.transport.abort()
        self.links.clear()

    async def _link(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self.links |= {client_writer, server_writer}

        async def pipe(reader, writer) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.transport.abort()

        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))


async def test_database_outage_gives_503_and_the_retry_stores_the_report_once(infra, tmp_path) -> None:
    url = make_url(infra.database_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.open()
    port = _free_port()
    env = {
        **os.environ,
        "CPNET_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "CPNET_INTAKE_PORT": str(port),
        "CPNET_DATABASE_URL": url.set(port=proxy.port).render_as_string(hide_password=False),
    }
    log = open(tmp_path / "intake.log", "wb")
    service = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cpnet.cli",
        "serve",
        "intake",
        env=env,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    report = hotline_report(
        channel="police", reporter={"role": "police", "name": None, "phone": None, "anonymous": True}
    )
    headers = {**token(subject="police-1404"), "Idempotency-Key": f"retry-{uuid.uuid4().hex}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            await _until_ready(http)
            await proxy.cut()
            down = await http.post("/v1/reports", json=report, headers=headers)
            ready_while_down = await http.get("/readyz")
            await proxy.open()
            up = await _post_as_a_client_would(http, report, headers)
            replay = await _post_as_a_client_would(http, report, headers)
    except httpx.HTTPError as exc:
        raise AssertionError(
            f"{exc!r}; intake's log ends: {(tmp_path / 'intake.log').read_text()[-3000:]}"
        ) from exc
    finally:
        if service.returncode is None:
            service.send_signal(signal.SIGINT)
        await asyncio.wait_for(service.wait(), timeout=30)
        await proxy.cut()
    assert down.status_code == 503, down.text
    assert (
        ready_while_down.status_code == 503 and ready_while_down.json()["checks"]["database"] == "unreachable"
    )
    assert up.status_code == 202 and replay.status_code == 202
    assert replay.json()["report_id"] == up.json()["report_id"]
    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as conn:
            stored = await conn.scalar(
                select(func.count())
                .select_from(text("intake.reports"))
                .where(text("external_id = :x"))
                .params(x=report["external_id"])
            )
    finally:
        await engine.dispose()
    assert stored == 1, "the report is stored exactly once"


async def _post_as_a_client_would(http: httpx.AsyncClient, report: dict, headers: dict) -> httpx.Response:
    """A dropped connection leaves the client not knowing whether the report was stored;
    the Idempotency-Key is what makes resending it safe."""
    for attempt in range(3):
        try:
            return await http.post("/v1/reports", json=report, headers=headers)
        except httpx.TransportError:
            if attempt == 2:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


async def _until_ready(http: httpx.AsyncClient) -> None:
    for _ in range(300):
        try:
            if (await http.get("/readyz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("intake did not become ready")
