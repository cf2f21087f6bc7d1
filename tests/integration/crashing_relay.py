"""A relay process that dies by SIGKILL right after Kafka acknowledged its batch and before
it marks the rows published: the worst moment for a crash. Run by the integration tests:
`python -m tests.integration.crashing_relay DATABASE_URL SCHEMA BOOTSTRAP`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from sqlalchemy.ext.asyncio import create_async_engine

from shared.db.tables import messaging_metadata
from shared.messaging.broker import make_broker
from shared.messaging.relay import OutboxRelay


class RelayKilledBeforeMarking(OutboxRelay):
    async def mark_published(self, conn, rows) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


async def main(database_url: str, schema: str, bootstrap: str) -> None:
    engine = create_async_engine(database_url)
    broker = make_broker(bootstrap, client_id="crashing-relay")
    await broker.connect()
    outbox = messaging_metadata(schema).tables[f"{schema}.outbox"]
    await RelayKilledBeforeMarking(engine=engine, outbox=outbox, broker=broker).run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
