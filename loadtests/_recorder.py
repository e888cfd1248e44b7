"""Exact per-request recording, in the format of ``harness.core.samples`` (pure: no locust import).

Each generator process appends one tuple per request to a :class:`Recorder` (cheap: no numpy
per request) and drains it about once a second into packed ``SAMPLE_DTYPE`` records, which are
written directly (a local run) or shipped as bytes to the Locust master (a distributed run),
where a :class:`Collector` re-maps endpoint indices, writes them with one ``SampleWriter`` and
keeps per-worker counts so that it knows when every worker's last batch has arrived. The write
ledger (``_ledger``) travels in the same batches and lands in a file per process beside the
samples. Memory stays bounded by one flush interval of records per process.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _ledger import Ledger, LedgerWriter

from harness.core.samples import SAMPLE_DTYPE, SampleArray, SampleWriter, write_meta
from harness.core.workload import ENDPOINTS


class Recorder:
    """The samples of one generator process, buffered between flushes."""

    def __init__(self, worker: int = 0) -> None:
        self.worker = worker
        self.endpoints: list[str] = list(ENDPOINTS)
        self._index = {name: i for i, name in enumerate(self.endpoints)}
        self._rows: list[tuple[float, float, float, float, int, int, int, int]] = []
        self.total = 0  # records drained so far
        self._cpu_mark = (time.time(), time.process_time())
        self.cpu: list[list[float]] = []  # [[ts, cpu_percent], ...], one point per flush
        self.ledger = Ledger()  # the writes, drained with the samples

    def add(
        self,
        endpoint: str,
        start: float,
        intended: float,
        latency_ms: float,
        status: int,
        ok: bool,
    ) -> None:
        index = self._index.get(endpoint)
        if index is None:
            index = self._index[endpoint] = len(self.endpoints)
            self.endpoints.append(endpoint)
        co = (start - intended) * 1000.0 + latency_ms
        self._rows.append(
            (start, intended, latency_ms, co, index, status, 1 if ok else 0, self.worker)
        )

    def __len__(self) -> int:
        return len(self._rows)

    def drain(self) -> SampleArray:
        """The buffered records as one array; the buffer starts again empty."""
        rows, self._rows = self._rows, []
        records = np.array(rows, dtype=SAMPLE_DTYPE) if rows else np.empty(0, SAMPLE_DTYPE)
        self.total += len(rows)
        return records

    def requeue(self, message: dict[str, Any]) -> None:
        """Put back the records of a :meth:`batch` that could not be sent (they go out next)."""
        records = np.frombuffer(message["records"], dtype=SAMPLE_DTYPE)
        self._rows[:0] = [tuple(row) for row in records.tolist()]
        self.total -= int(records.shape[0])
        self.ledger.requeue(message.get("ledger", b""))

    def sample_cpu(self) -> float:
        """CPU % of this process (100 = one core) since the previous call; kept in ``cpu``."""
        now, cpu = time.time(), time.process_time()
        wall = now - self._cpu_mark[0]
        percent = 100.0 * (cpu - self._cpu_mark[1]) / wall if wall > 0 else 0.0
        self._cpu_mark = (now, cpu)
        self.cpu.append([now, round(percent, 2)])
        return percent

    def batch(self, *, final: bool = False) -> dict[str, Any]:
        """A message for the master: packed records, their endpoint names, counts, CPU."""
        records = self.drain()
        return {
            "worker": self.worker,
            "records": records.tobytes(),
            "endpoints": list(self.endpoints),
            "total": self.total,
            "ledger": self.ledger.drain(),
            "ledger_total": self.ledger.total,
            "cpu": self.cpu[-1:] if not final else [],
            "final": final,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }


@dataclass
class WorkerState:
    index: int
    received: int = 0
    final_total: int | None = None
    cpu: list[list[float]] = field(default_factory=list)
    host: str = ""
    pid: int = 0
    slots: int | None = None  # open model: arrival slots the process handed out
    ledger_received: int = 0
    ledger_final_total: int | None = None

    @property
    def complete(self) -> bool:
        return self.final_total is not None and self.final_total == self.received

    @property
    def ledger_complete(self) -> bool:
        return self.ledger_final_total is not None and self.ledger_final_total == (
            self.ledger_received
        )


class Collector:
    """Writes every process's records into one samples directory and describes them."""

    def __init__(self, directory: Path, tag: str = "0") -> None:
        self.directory = Path(directory)
        self.writer = SampleWriter(self.directory, tag)
        self.ledger = LedgerWriter(self.directory)
        self.endpoints: list[str] = list(ENDPOINTS)
        self._index = {name: i for i, name in enumerate(self.endpoints)}
        self.workers: dict[int, WorkerState] = {}
        self.closed = False  # samples.json written: no more records

    def _lookup(self, names: list[str]) -> np.ndarray[Any, np.dtype[np.uint16]]:
        out = np.empty(len(names), dtype=np.uint16)
        for i, name in enumerate(names):
            if name not in self._index:
                self._index[name] = len(self.endpoints)
                self.endpoints.append(name)
            out[i] = self._index[name]
        return out

    def add_records(self, records: SampleArray, endpoints: list[str], worker: int) -> None:
        """Records whose ``endpoint`` indexes ``endpoints`` (the sender's own list)."""
        state = self.workers.setdefault(worker, WorkerState(worker))
        if records.shape[0]:
            records = records.copy()
            records["endpoint"] = self._lookup(endpoints)[records["endpoint"]]
            records["worker"] = worker
            self.writer.write(records)
        state.received += int(records.shape[0])

    def add_batch(self, message: dict[str, Any]) -> WorkerState:
        """A worker's batch (see :meth:`Recorder.batch`)."""
        worker = int(message["worker"])
        payload = message["records"]
        records = np.frombuffer(payload, dtype=SAMPLE_DTYPE) if payload else None
        self.add_records(
            records if records is not None else np.empty(0, SAMPLE_DTYPE),
            list(message["endpoints"]),
            worker,
        )
        state = self.workers[worker]
        state.ledger_received += self.ledger.write(worker, message.get("ledger") or b"")
        state.cpu.extend(message.get("cpu", []))
        state.host = str(message.get("host", state.host))
        state.pid = int(message.get("pid", state.pid))
        if message.get("final"):
            state.final_total = int(message["total"])
            state.ledger_final_total = int(message.get("ledger_total", 0))
            if message.get("slots") is not None:
                state.slots = int(message["slots"])
        return state

    def complete(self, expected: set[int] | None = None) -> bool:
        """Every expected worker (default: every worker heard from) sent its final batch."""
        indices = expected if expected is not None else set(self.workers)
        return all(
            i in self.workers and self.workers[i].complete and self.workers[i].ledger_complete
            for i in indices
        )

    @property
    def count(self) -> int:
        return self.writer.count

    def close(self, *, names: dict[int, str] | None = None, **meta: Any) -> None:
        """Flush the records and write ``samples.json`` (``workers`` with CPU timelines)."""
        self.closed = True
        self.writer.flush()
        self.writer.close()
        self.ledger.close()
        workers = [
            {
                "index": state.index,
                "name": (names or {}).get(state.index, f"generator-{state.index}"),
                "host": state.host,
                "pid": state.pid,
                "records": state.received,
                "complete": state.final_total == state.received,
                "cpu": state.cpu,
                "slots": state.slots,
                "ledger": state.ledger_received,
                "ledger_complete": state.ledger_complete,
            }
            for state in sorted(self.workers.values(), key=lambda s: s.index)
        ]
        write_meta(self.directory, self.endpoints, workers=workers, records=self.count, **meta)
