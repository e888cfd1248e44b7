"""Reloading the local nginx and knowing when the reload has drained, for graceful restarts.

nginx OSS has no active health checks and no API to change an upstream, so the stack takes a
replica out of rotation by rewriting ``nginx.conf`` with it marked ``down`` and reloading
(SIGHUP to the master). The master starts workers on the new configuration, which never send the
replica anything, and tells the old workers to finish: they accept nothing more, complete the
requests they are serving (each with the replica it went to), close their keep-alive connections
to the replicas and exit. Once every old worker has exited, nothing is in flight to the replica
and nothing can reach it: stopping it fails no request. Stopping it before would: a POST or PATCH
that nginx wrote onto a keep-alive connection the replica was closing is never retried (nginx
does not resend a non-idempotent request), so its client gets a 502.

A configuration nginx refuses leaves the old workers serving and starts none: an error here,
with the log's tail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import psutil

from harness.errors import ComponentError
from harness.stack.processes import log_tail

APPLY_TIMEOUT = 10.0  # a reload starts its workers at once; longer means it was refused
DRAIN_TIMEOUT = 30.0  # old workers finish their requests (proxy_read_timeout bounds each at 60 s)


def workers(master: int) -> set[int]:
    """The worker processes of the nginx ``master`` now (every generation still alive)."""
    with contextlib.suppress(psutil.Error):
        return {child.pid for child in psutil.Process(master).children()}
    return set()


def reload(
    master: int,
    log: Path,
    *,
    apply_timeout: float = APPLY_TIMEOUT,
    drain_timeout: float = DRAIN_TIMEOUT,
) -> bool:
    """Reload nginx (its configuration file was rewritten) and wait until the old workers have
    finished their requests and exited; False if some were still at it after ``drain_timeout``
    (then they finish on their own: the caller may go on, the replicas' graceful shutdown
    lets a request in flight complete)."""
    old = workers(master)
    os.kill(master, signal.SIGHUP)  # the master only: it re-reads the file and forks anew
    deadline = time.monotonic() + apply_timeout
    while not workers(master) - old:
        if time.monotonic() > deadline:
            raise ComponentError(
                "nginx", f"reload not applied in {apply_timeout:g} s", log_tail(log)
            )
        time.sleep(0.02)
    deadline = time.monotonic() + drain_timeout
    while workers(master) & old:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
