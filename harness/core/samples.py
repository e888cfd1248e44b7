"""Exact per-request samples: the on-disk format shared by the load generator and the analysis.

Locust rounds response times into buckets; we keep every request's latency as a float. Each writer
(one per Locust master, fed by its workers) appends fixed-size little-endian records to
``samples-<tag>.bin`` and describes them in ``samples.json``. Memory stays bounded because
records are flushed to disk in batches; percentiles are exact because nothing is bucketed.

This module imports numpy only: it runs inside Locust (gevent) and inside the analysis.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

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
READ_CHUNK = 1 << 20  # records read from a file at a time: bounds the reader's extra memory
# Rows a whole-phase computation (completion times, per-bin counts) takes at a time: its
# temporaries are a few columns of this many rows, not of the whole run.
ROW_CHUNK = 1 << 20


def row_chunks(n: int, size: int | None = None) -> Iterator[slice]:
    """``slice``s of ``size`` (default :data:`ROW_CHUNK`) rows covering ``range(n)``."""
    step = max(1, int(size if size is not None else ROW_CHUNK))
    for a in range(0, n, step):
        yield slice(a, min(a + step, n))


def bin_counts(
    values: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """``np.histogram(values, bins=edges)[0]`` (bins ``[e_i, e_i+1)``, the last one closed; NaN
    and values outside left out), by one binary search a value instead of a sort of them all."""
    bins = edges.size - 1
    if bins < 1:
        return np.zeros(0, dtype=np.int64)
    index = np.searchsorted(edges, values, side="right") - 1
    index[values == edges[-1]] = bins - 1
    counted = index[(index >= 0) & (index < bins)]
    out: npt.NDArray[np.int64] = np.bincount(counted, minlength=bins)[:bins]
    return out


def count_below(
    values: npt.NDArray[np.float64], points: npt.NDArray[np.float64], *, inclusive: bool = False
) -> npt.NDArray[np.int64]:
    """For each of the sorted ``points``, how many ``values`` are below it (``inclusive``: at or
    below): ``np.searchsorted(np.sort(values), points, side)``, without sorting the values."""
    # the first point each value is below
    index = np.searchsorted(points, values, side="left" if inclusive else "right")
    out: npt.NDArray[np.int64] = np.cumsum(np.bincount(index, minlength=points.size + 1))
    return out[: points.size]


class SampleColumns:
    """Records held as one array per field (only the fields a step needs), indexed like a
    structured array: ``cols["ts"]`` is a column, ``cols[mask]`` the selected rows."""

    def __init__(self, columns: dict[str, npt.NDArray[Any]]) -> None:
        lengths = {int(c.shape[0]) for c in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self.columns = columns
        self._len = lengths.pop() if lengths else 0

    @property
    def shape(self) -> tuple[int]:
        return (self._len,)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, key: str | slice | npt.NDArray[Any]) -> Any:
        if isinstance(key, str):
            return self.columns[key]
        if isinstance(key, slice):
            return SampleColumns({name: column[key] for name, column in self.columns.items()})
        if key.dtype == np.bool_:
            # Records in start-time order: a time window's rows are one stretch, taken as
            # views rather than copied.
            count = int(key.sum())
            first = int(key.argmax()) if count else 0
            if bool(key[first : first + count].all()):
                key = slice(first, first + count)  # same rows
        return SampleColumns({name: column[key] for name, column in self.columns.items()})


# What the verdict and the stability rules read: a structured array or its columns.
Records = Union[SampleArray, SampleColumns]  # noqa: UP007 (a runtime alias: mypy reads it as one)


@dataclass
class Samples:
    records: Records
    endpoints: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.records.shape[0])

    def endpoint_names(self) -> npt.NDArray[np.str_]:
        """One string per record: simple, but as large as the records. The analysis groups by
        :meth:`endpoint_groups` instead."""
        table = np.asarray([*self.endpoints, "?"], dtype=np.str_)
        names: npt.NDArray[np.str_] = table[self.endpoint_index(self.records)]
        return names

    def endpoint_index(self, records: Records) -> npt.NDArray[np.integer[Any]]:
        """Each of ``records``' index into ``[*endpoints, "?"]`` (past the names reads ``?``),
        in the records' own small integer dtype."""
        codes = np.asarray(records["endpoint"])
        index: npt.NDArray[np.integer[Any]] = np.minimum(codes, len(self.endpoints))
        return index

    def endpoint_groups(self, index: npt.NDArray[np.integer[Any]]) -> dict[str, list[int]]:
        """Endpoint name -> the indices (of :meth:`endpoint_index`) that read it, sorted by
        name; only the names present in ``index``."""
        table = [*self.endpoints, "?"]
        groups: dict[str, list[int]] = {}
        for i in np.unique(index).tolist():
            groups.setdefault(table[i], []).append(int(i))
        return dict(sorted(groups.items()))


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
    meta, paths = _sample_files(directory)
    parts = [np.fromfile(path, dtype=SAMPLE_DTYPE) for path in paths]
    records = np.concatenate(parts) if parts else np.empty(0, dtype=SAMPLE_DTYPE)
    records = records[np.argsort(records["ts"], kind="stable")]
    return Samples(records=records, endpoints=list(meta.get("endpoints", [])), meta=meta)


class SortedReader:
    """The records of a samples directory in the order of :func:`read_samples` (by start
    time, stable), for a caller that keeps only some columns, or values derived from them.

    Bounded memory, never the whole records array: a first pass reads the start times
    :data:`READ_CHUNK` records at a time and, only when they are out of order, finds each
    record's row in start-time order (one int32 or int64 a record); :meth:`chunks` then reads
    the files again in chunks, each with the rows its records go to, for the caller to scatter
    into its own columns.
    """

    def __init__(self, directory: Path) -> None:
        self.meta, self.paths = _sample_files(directory)
        # Counted once: a file of a phase still being written may grow between the two passes,
        # and both must read the same records.
        self.counts = [path.stat().st_size // SAMPLE_DTYPE.itemsize for path in self.paths]
        self.count = int(sum(self.counts))
        ts = np.empty(self.count, dtype=np.float64)
        present: set[int] = set()
        for at, chunk in self._read():
            ts[at : at + chunk.shape[0]] = chunk["ts"]
            present.update(np.unique(chunk["endpoint"]).tolist())
        self.endpoint_codes = sorted(present)  # the endpoint indices that occur
        self.first_ts = float(ts.min()) if ts.size else None  # the earliest start
        self.rows: npt.NDArray[np.integer[Any]] | None = None
        if ts.size > 1 and not bool(np.all(ts[1:] >= ts[:-1])):
            order = np.argsort(ts, kind="stable")
            del ts
            index = np.int32 if self.count < 2**31 else np.int64
            self.rows = np.empty(self.count, dtype=index)
            self.rows[order] = np.arange(self.count, dtype=index)

    def _read(self) -> Iterator[tuple[int, SampleArray]]:
        at = 0
        for path, count in zip(self.paths, self.counts, strict=True):
            for offset in range(0, count, READ_CHUNK):
                n = min(READ_CHUNK, count - offset)
                chunk = np.fromfile(
                    path, dtype=SAMPLE_DTYPE, count=n, offset=offset * SAMPLE_DTYPE.itemsize
                )
                yield at, chunk
                at += n

    def chunks(self) -> Iterator[tuple[SampleArray, slice | npt.NDArray[np.integer[Any]]]]:
        """Each chunk of records in file order, with the rows (in start-time order) they go to."""
        for at, chunk in self._read():
            end = at + chunk.shape[0]
            yield chunk, slice(at, end) if self.rows is None else self.rows[at:end]


def _sample_files(directory: Path) -> tuple[dict[str, Any], list[Path]]:
    """``samples.json`` and the ``samples-*.bin`` files (whole records each) of a directory."""
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
    paths = sorted(directory.glob("samples-*.bin"))
    for path in paths:
        size = path.stat().st_size
        if size % SAMPLE_DTYPE.itemsize:
            raise BadInputError(f"{path}: truncated ({size} bytes is not whole records)")
    return dict(meta), paths


def percentile(values: npt.ArrayLike, q: float, *, scratch: bool = False) -> float:
    """Exact percentile (numpy's default linear interpolation); NaN when there are no values.

    ``scratch``: ``values`` is the caller's own copy, which numpy may reorder in place rather
    than copy again (the same result: a percentile depends on the values, not their order)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return float("nan")
    return float(np.percentile(arr, q, overwrite_input=scratch))
