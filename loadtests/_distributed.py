"""Moving exact samples between processes, and sharing the arrival schedule among workers.

A generator process (a local run, or a worker) records into a :class:`Shipper`, which drains its
recorder about once a second from a greenlet and hands each batch to a sender: the local
``Collector``, or a "primo_samples" message to the master. At the end the master asks every
worker to stop and flush ("primo_flush") and :func:`collect_from_workers` waits, with a deadline,
until each worker's final count matches what arrived.

Open model: when the test starts the master tells each worker it dispatches users to its
:class:`Share` of the arrival schedule ("primo_share").
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from _recorder import Collector, Recorder
from locust.runners import MasterRunner

from harness.core.ledger import LEDGER_GLOB

log = logging.getLogger("primo")

FLUSH_INTERVAL_S = 1.0
FINAL_WAIT_S = 15.0
FLUSHER_JOIN_S = 10.0  # how long the last periodic flush may take to finish before the final one

# Message types between master and workers.
SAMPLES = "primo_samples"  # worker -> master: a Recorder.batch()
FLUSH = "primo_flush"  # master -> workers: stop, send the final batch
SHARE = "primo_share"  # master -> worker: its Share of the schedule

Batch = dict[str, Any]  # Recorder.batch(): a msgpack-able message
Send = Callable[[Batch], object]


@dataclass(frozen=True)
class Share:
    """Which slots of the run's arrival schedule a process sends: ``index`` of ``count``.

    ``count`` is the number of workers actually connected — not ``--expect-workers``, which a
    worker may not know and which need not match. ``start`` is the master's run start.
    """

    index: int
    count: int
    start: float

    def to_message(self) -> dict[str, float]:
        return {"index": self.index, "count": self.count, "start": self.start}

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> Share:
        return cls(int(data["index"]), int(data["count"]), float(data["start"]))


class Shipper:
    """One process's recorder, drained every ``FLUSH_INTERVAL_S`` into ``send``."""

    def __init__(self, recorder: Recorder, send: Send) -> None:
        self.recorder = recorder
        self._send = send
        self._flusher: gevent.Greenlet | None = None
        self._stop: gevent.event.Event | None = None  # asks the flusher to finish its loop

    def start(self) -> None:
        self.recorder.sample_cpu()
        self._stop = gevent.event.Event()
        self._flusher = gevent.spawn(self._loop, self._stop)

    def _loop(self, stop: gevent.event.Event) -> None:
        # Never killed while it flushes: it ends the flush in progress, sees ``stop``, returns.
        while not stop.wait(FLUSH_INTERVAL_S):
            self.flush()

    def flush(self, *, final: bool = False, slots: int | None = None) -> None:
        """Send what was recorded since the last flush; ``final`` with the process's total (and,
        in the open model, how many arrival slots it handed out)."""
        if not final:
            self.recorder.sample_cpu()
        batch = self.recorder.batch(final=final)
        if final and slots is not None:
            batch["slots"] = slots
        try:
            self._send(batch)
        except BaseException:
            self.recorder.requeue(batch)  # not sent: the next flush sends these records again
            raise

    def stop(self) -> None:
        """Stop the periodic flusher without losing a batch; the caller then flushes the rest."""
        flusher, stop = self._flusher, self._stop
        self._flusher = self._stop = None
        if flusher is None:
            return
        if stop is not None:
            stop.set()
        if gevent.getcurrent() is flusher:
            return
        flusher.join(timeout=FLUSHER_JOIN_S)
        if (
            not flusher.dead
        ):  # stuck sending for FLUSHER_JOIN_S: it puts its batch back on the way out
            log.error("samples: the flusher did not finish within %gs; stopping it", FLUSHER_JOIN_S)
            flusher.kill(block=True, timeout=1.0)

    def finish(self, slots: int | None) -> None:
        """The end of the run: stop the flusher, send the rest, then the final batch."""
        self.stop()
        self.flush()
        self.flush(final=True, slots=slots)


def clear_samples(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for old in [*directory.glob("samples-*.bin"), *directory.glob(LEDGER_GLOB)]:
        old.unlink()
    with contextlib.suppress(FileNotFoundError):
        (directory / "samples.json").unlink()


def worker_index(runner: MasterRunner, client_id: str) -> int:
    return int(runner.get_worker_index(client_id))  # type: ignore[no-untyped-call]  # untyped in Locust


def send_shares(runner: MasterRunner, start: float, pool: int | None) -> None:
    """Tell every worker the master dispatches users to which share of the schedule it sends.

    Called from ``test_start``, which the master fires after it picked the workers and before
    it sends them the spawn message: on the same connection, so a worker hears its share first.
    ``pool`` is the open model's user pool (None in the closed model).
    """
    active = runner.clients.ready + runner.clients.running + runner.clients.spawning
    ids = sorted(
        (client.id for client in active), key=lambda client_id: worker_index(runner, client_id)
    )
    for index, client_id in enumerate(ids):
        runner.send_message(SHARE, Share(index, len(ids), start).to_message(), client_id)
    if pool is not None and len(ids) > pool:
        log.warning(
            "open model: %d workers, a pool of %d users: a share has no user", len(ids), pool
        )


def collect_from_workers(runner: MasterRunner, collector: Collector) -> None:
    """Ask every worker for its final batch and wait until all arrived (or the deadline)."""
    expected = {worker_index(runner, client.id) for client in runner.clients.all}
    expected |= set(collector.workers)
    runner.send_message(FLUSH)
    deadline = time.monotonic() + FINAL_WAIT_S + float(runner.environment.stop_timeout or 0)
    while time.monotonic() < deadline:
        if collector.closed or collector.complete(expected):
            return
        gevent.sleep(0.05)
    missing = sorted(i for i in expected if not collector.closed and not collector.complete({i}))
    log.error("samples: no final batch from worker(s) %s before the deadline", missing)
