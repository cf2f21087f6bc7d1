"""What the access audit costs a reader, on the real stack: a caseworker reading a child's
details (decrypted, with its access.recorded event committed first) against reading the
case's summary (no personal data, no record). Runs the intake app in this process, with its
relay publishing to the real broker. Prints figures; asserts nothing.

    .venv/bin/python -m bench.access [--children 200] [--reads 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from cpnet.registry import definition_of, upgrade
from shared.auth import Role, issue_token
from shared.service import build_app
from shared.settings import Settings
from tests.e2e.reports import hotline_report


async def _timed_reads(
    http: httpx.AsyncClient, paths: list[str], headers: dict, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    queue = list(paths)

    async def worker() -> None:
        while queue:
            path = queue.pop()
            started = time.perf_counter()
            answer = await http.get(path, headers=headers)
            latencies.append(time.perf_counter() - started)
            answer.raise_for_status()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _report(what: str, latencies: list[float], wall: float) -> None:
    ordered = sorted(latencies)
    print(
        f"{what:<36} {len(latencies) / wall:8.0f} reads/s   p50 {statistics.median(ordered) * 1000:6.1f} ms"
        f"   p99 {ordered[int(len(ordered) * 0.99) - 1] * 1000:6.1f} ms"
    )


async def run(children: int, reads: int, concurrency: int) -> None:
    settings = Settings()
    await asyncio.to_thread(upgrade, "intake", settings.database_url)
    app = build_app(definition_of("intake"), settings)
    # Both work in the county of the example reports (tests/e2e/reports.py).
    reporter_token = issue_token(settings, subject="bench-school", role=Role.reporter, jurisdiction="140402")
    caseworker_token = issue_token(settings, subject="bench-cw", role=Role.caseworker, jurisdiction="140402")
    reporter = {"Authorization": f"Bearer {reporter_token}"}
    caseworker = {"Authorization": f"Bearer {caseworker_token}"}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://intake") as http:
            cases = []
            for _ in range(children):
                answer = await http.post("/v1/reports", json=hotline_report(), headers=reporter)
                answer.raise_for_status()
                cases.append(answer.json()["case_id"])
            for label, path in (
                ("case summary (no personal data)", "/v1/cases/{}"),
                ("child details + access record", "/v1/cases/{}/child?purpose=assessment"),
            ):
                paths = [path.format(cases[n % len(cases)]) for n in range(reads)]
                started = time.perf_counter()
                latencies = await _timed_reads(http, paths, caseworker, concurrency)
                _report(label, latencies, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=200)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.children, args.reads, args.concurrency))


if __name__ == "__main__":
    main()
