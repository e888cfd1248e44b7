"""Exact per-request samples: the on-disk format shared by the load generator and the analysis.

Locust rounds response times into buckets; we keep every request's latency as a float. Each writer
(one per Locust master, fed by its workers) appends fixed-size little-endian records to
``samples-<tag>.bin`` and describes them in ``samples.json``. Memory stays bounded because
records are flushed to disk in batches; percentiles are exact because nothing is bucketed.

This module imports numpy only: it runs inside Locust (gevent) and inside the analysis.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness._files import write_json
from harness.errors import BadInputError

SCHEMA_VERSION = 1
META_FILE = "samples.json"

SAMPLE_DTYPE = np.dtype(
    [
        ("ts", "<f8"),  # actual start, unix seconds
        ("intended", "<f8"),  # intended start (open model); equals ts in the closed model
        ("latency_ms", "<f8"),  # service latency, from the actual start
        ("co_latency_ms", "<f8"),  # coordinated-omission corrected, from the intended start
        ("endpoint", "<u2"),  # index into meta["endpoints"]
        ("status", "<u2"),  # HTTP status, 0 when no response (connection error, timeout)
        ("ok", "u1"),  # 1 success, 0 failure (failures never enter latency percentiles)
        ("worker", "u1"),  # index of the generator process that sent it
    ]
)

SampleArray = npt.NDArray[np.void]


@dataclass
class Samples:
    records: SampleArray
    endpoints: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.records.shape[0])

    def endpoint_names(self) -> npt.NDArray[np.str_]:
        table = np.asarray([*self.endpoints, "?"], dtype=np.str_)
        idx = np.minimum(self.records["endpoint"], len(self.endpoints))
        names: npt.NDArray[np.str_] = table[idx]
        return names


class SampleWriter:
    """Appends records to one ``.bin`` file and keeps ``samples.json`` up to date."""

    def __init__(self, directory: Path, tag: str = "0") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"samples-{tag}.bin"
        self._fh = self.path.open("ab")
        self.count = 0

    def write(self, records: SampleArray) -> None:
        if records.dtype != SAMPLE_DTYPE:
            raise ValueError(f"records must have SAMPLE_DTYPE, not {records.dtype}")
        self._fh.write(records.tobytes())
        self.count += int(records.shape[0])

    def write_bytes(self, payload: bytes) -> None:
        """Append records already packed as SAMPLE_DTYPE bytes (as workers send them)."""
        if len(payload) % SAMPLE_DTYPE.itemsize:
            raise ValueError("payload is not a whole number of sample records")
        self._fh.write(payload)
        self.count += len(payload) // SAMPLE_DTYPE.itemsize

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def write_meta(directory: Path, endpoints: Sequence[str], **extra: Any) -> None:
    """Write ``samples.json`` atomically (a reader never sees half a file)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"schema": SCHEMA_VERSION, "dtype": SAMPLE_DTYPE.descr, "endpoints": list(endpoints)}
    meta.update(extra)
    write_json(directory / META_FILE, meta)


def read_samples(directory: Path) -> Samples:
    """Read every ``samples-*.bin`` in ``directory`` (sorted by start time)."""
    directory = Path(directory)
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise BadInputError(f"{meta_path}: missing (not a samples directory)")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{meta_path}: not valid JSON ({exc})") from exc
    if meta.get("schema") != SCHEMA_VERSION:
        found = meta.get("schema")
        raise BadInputError(f"{meta_path}: schema {found!r}, expected {SCHEMA_VERSION}")
    parts: list[SampleArray] = []
    for path in sorted(directory.glob("samples-*.bin")):
        size = path.stat().st_size
        if size % SAMPLE_DTYPE.itemsize:
            raise BadInputError(f"{path}: truncated ({size} bytes is not whole records)")
        parts.append(np.fromfile(path, dtype=SAMPLE_DTYPE))
    records = np.concatenate(parts) if parts else np.empty(0, dtype=SAMPLE_DTYPE)
    records = records[np.argsort(records["ts"], kind="stable")]
    return Samples(records=records, endpoints=list(meta.get("endpoints", [])), meta=meta)


def percentile(values: npt.ArrayLike, q: float) -> float:
    """Exact percentile (numpy's default linear interpolation); NaN when there are no values."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return float("nan")
    return float(np.percentile(arr, q))
