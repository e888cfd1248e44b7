"""Graceful drain on SIGTERM, before uvicorn's graceful shutdown.

On SIGTERM the app turns *draining*: ``/health/ready`` answers 503 (``"draining"``) and every
response carries ``Connection: close``, so a client or balancer that keeps connections alive
(nginx's upstream keep-alive) closes each one after its answer rather than reuse a connection the
server is about to close under it. The app keeps serving like this for ``DRAIN_SECONDS``, long
enough for a balancer that watches readiness to stop sending, and then hands the signal on to
uvicorn, whose graceful shutdown stops accepting, lets the requests in flight finish (within
``--timeout-graceful-shutdown``) and exits. A second SIGTERM ends the wait at once.

With ``DRAIN_SECONDS=0`` (the default) the signal goes on at once: a balancer that drains the
replica first (the local stack's nginx, harness/stack/balancer.py) leaves nothing to wait for.

uvicorn installs its signal handlers before it starts the app's lifespan and restores its own
previous ones after the shutdown, so the lifespan wraps uvicorn's SIGTERM handler: nothing
depends on how uvicorn was started (``uvicorn`` CLI, ``python -m reference_api``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("reference_api")

SignalHandler = Callable[[int, FrameType | None], object]


class Drain:
    """Whether this process is draining, and how many requests it is serving (the edge
    middleware counts them: one event loop, no lock)."""

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0


def drain_on_sigterm(drain: Drain, seconds: float) -> Callable[[], None]:
    """Wrap the SIGTERM handler in place (uvicorn's) so that it drains first; return the undo.

    Nothing to wrap (not the main thread, or no Python handler: the app runs under a test
    client, not a server): nothing is changed.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return lambda: None
    server_exit: SignalHandler = previous
    loop = asyncio.get_running_loop()

    def began(signum: int) -> None:
        log.warning(
            "SIGTERM: draining (readiness 503, Connection: close) for %g s, then shutting down",
            seconds,
            extra={"in_flight": drain.in_flight},
        )
        loop.call_later(seconds, server_exit, signum, None)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if drain.draining or seconds <= 0:
            drain.draining = True
            server_exit(signum, frame)
            return
        drain.draining = True
        # A signal handler may run between any two bytecodes of the loop's own code: schedule
        # the rest on the loop rather than touch it (or the logging locks) from here.
        loop.call_soon_threadsafe(began, signum)

    signal.signal(signal.SIGTERM, on_sigterm)

    def undo() -> None:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    return undo
