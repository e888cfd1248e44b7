"""The history file: one JSON line per phase of each run added, in the order they were added.

A record is the phase's summary numbers from the run's ``summary.json`` (written by
``capacity report``) and where they came from: the run, its scenario, topology and git commit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness._files import utc_now, write_atomic
from harness.analysis.load import read_json
from harness.errors import BadInputError

HISTORY_SCHEMA = "primo-capacity/history/v1"
DEFAULT_HISTORY = Path("reports") / "history" / "history.jsonl"
# summary.json phase field -> what the trend calls it
METRICS = ("ok_rps", "achieved_rps", "p50_ms", "p95_ms", "p99_ms", "error_pct",
           "cpu_ms_per_request")  # fmt: skip
TOPOLOGY = ("replicas", "cache", "lb", "balancer")


@dataclass(frozen=True)
class Record:
    run: str
    phase: str
    scenario: str
    topology: dict[str, Any]
    metrics: dict[str, float | None]
    commit: str | None
    started: str | None
    valid: bool
    added: str

    @property
    def series(self) -> str:
        """What a trend follows: one scenario's phase."""
        return f"{self.scenario}/{self.phase}"


def records_of_run(run_dir: Path) -> list[Record]:
    """The records of one run, from ``RUN_DIR/summary.json`` and its phases' manifests."""
    summary = run_dir / "summary.json"
    if not summary.is_file():
        raise BadInputError(f"{summary}: missing (write it with: capacity report {run_dir})")
    phases = read_json(summary).get("phases")
    if not isinstance(phases, list) or not phases:
        raise BadInputError(f"{summary}: no phases")
    added = utc_now()
    try:
        return [_record(run_dir, p, added) for p in phases if p["run"] == run_dir.name] or [
            _record(run_dir, p, added) for p in phases
        ]
    except (KeyError, TypeError) as exc:
        raise BadInputError(f"{summary}: not a summary ({type(exc).__name__}: {exc})") from exc


def _record(run_dir: Path, phase: Mapping[str, Any], added: str) -> Record:
    manifest_path = run_dir / str(phase["phase"]) / "manifest.json"
    manifest = read_json(manifest_path) if manifest_path.is_file() else {}
    return Record(
        run=str(phase["run"]),
        phase=str(phase["phase"]),
        scenario=str(phase["scenario"]),
        topology={k: phase.get(k) for k in TOPOLOGY},
        metrics={m: _number(phase.get(m)) for m in METRICS},
        commit=manifest.get("git_commit"),
        started=manifest.get("started"),
        valid=bool(phase.get("valid", True)),
        added=added,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def load_history(path: Path) -> list[Record]:
    if not path.is_file():
        raise BadInputError(f"{path}: missing (add runs with: capacity history add RUN_DIR)")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if data.pop("schema", None) != HISTORY_SCHEMA:
                raise ValueError(f"schema is not {HISTORY_SCHEMA!r}")
            records.append(Record(**data))
        except (ValueError, TypeError) as exc:
            raise BadInputError(f"{path}:{number}: not a history record ({exc})") from exc
    return records


def append_records(path: Path, records: Sequence[Record]) -> list[Record]:
    """Append the records whose run, start and phase are not in the history yet; returns those.
    The start is part of the key: CI writes every run to the same directory name."""
    existing = load_history(path) if path.is_file() else []
    seen = {(r.run, r.started, r.phase) for r in existing}
    new = [r for r in records if (r.run, r.started, r.phase) not in seen]
    lines = [json.dumps({"schema": HISTORY_SCHEMA, **asdict(r)}) for r in [*existing, *new]]
    write_atomic(path, "".join(f"{line}\n" for line in lines))
    return new
