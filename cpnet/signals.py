"""How a long-running command stops: SIGTERM (what systemd, Kubernetes and `cpnet run` send) and SIGINT
(Ctrl-C) both ask it to stop, whatever disposition the process inherited — a job started in the
background by a shell inherits SIGINT ignored, and a supervisor that can only kill is no supervisor.
The command finishes the item in hand, commits what it finished, and returns."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[asyncio.Event]:
    """Inside the running loop: either signal sets `stop` (the loop's own handler replaces any the
    process inherited, ignored or not); on leaving, the signals' handling is Python's own again."""
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
