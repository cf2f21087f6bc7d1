"""`cpnet demo seed` fills the demonstration county through the running system: its children are
reported to intake, graded, owned, and a third of the cases named to the demonstration caseworker,
who finds them in their own list; without the system it says so in one line."""

from __future__ import annotations

import subprocess
import sys

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.console.tables import users
from shared.auth import Role
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import token


async def test_the_demo_county_is_seeded_through_the_running_system(infra, services: RunningServices) -> None:
    seeded = subprocess.run(
        [sys.executable, "-m", "cpnet.cli", "demo", "seed", "--cases", "24", "--seed", "5"],
        env=services.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert seeded.returncode == 0, seeded.stderr
    assert "reports 24" in seeded.stdout
    assigned = int(seeded.stdout.rsplit("assigned to caseworker ", 1)[1].split()[0])
    assert assigned >= 5
    engine = create_async_engine(infra.database_url)
    async with engine.connect() as connection:
        subject = await connection.scalar(select(users.c.subject).where(users.c.username == "caseworker"))
    await engine.dispose()
    async with httpx.AsyncClient(base_url=services.urls["casework"]) as http:
        mine = (
            await http.get(
                "/v1/cases",
                params={"owner": "me", "limit": 200},
                headers=token(Role.caseworker, subject, jurisdiction="140402"),
            )
        ).json()["cases"]
    assert len(mine) >= assigned


def test_without_the_system_the_seed_says_to_start_it(services: RunningServices) -> None:
    env = {**services.env, "CPNET_INTAKE_PORT": "9", "CPNET_CASEWORK_PORT": "9"}
    refused = subprocess.run(
        [sys.executable, "-m", "cpnet.cli", "demo", "seed", "--cases", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "start the system first" in refused.stderr
