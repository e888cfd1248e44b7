"""The analysis reads and computes a chunk of rows at a time (harness.core.samples READ_CHUNK,
ROW_CHUNK): its numbers must not depend on where the chunks fall, nor on the records' order in
the files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.load import load_run
from harness.analysis.series import block_metrics, request_series
from harness.analysis.summary import summarise_phase
from harness.core import samples, slo
from harness.core.samples import SAMPLE_DTYPE, bin_counts, count_below, read_samples
from tests.harness._synthetic import RUN_START, PhaseSpec, make_run

SPEC = PhaseSpec(
    rates=(120.0,), stage_s=60.0, error_rate=0.05, stall_s=3.0, outage=(30.0, 12.0), seed=3
)


def _scatter(phase_dir: Path) -> None:
    """Rewrite the phase's samples as two files, each out of start-time order."""
    directory = phase_dir / "samples"
    records = np.fromfile(directory / "samples-0.bin", dtype=SAMPLE_DTYPE)
    rng = np.random.default_rng(7)
    shuffled = records[rng.permutation(records.size)]
    half = shuffled.size // 2
    shuffled[:half].tofile(directory / "samples-0.bin")
    shuffled[half:].tofile(directory / "samples-1.bin")


def _analysed(run: Path) -> dict[str, str]:
    phase = load_run(run)[0]
    summary = summarise_phase(phase)
    verdict = slo.evaluate(phase.samples, phase.scenario, {}, run_start=0.0)  # type: ignore[arg-type]
    return {
        "summary": json.dumps(summary.to_dict(), sort_keys=True, default=str),
        "series": request_series(phase, 1.0).to_json(),
        "blocks": block_metrics(phase).to_json(),
        "verdict": json.dumps(verdict.measured, sort_keys=True, default=str),
    }


def test_the_numbers_do_not_depend_on_the_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path, [SPEC])
    _scatter(run / SPEC.name)
    whole = _analysed(run)

    monkeypatch.setattr(samples, "READ_CHUNK", 97)
    monkeypatch.setattr(samples, "ROW_CHUNK", 101)
    chunked = _analysed(run)

    assert chunked == whole
    assert json.loads(whole["summary"])["instabilities"]  # the stall was found, both ways


def test_the_loaded_rows_are_the_records_in_start_time_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path, [SPEC])
    _scatter(run / SPEC.name)
    monkeypatch.setattr(samples, "READ_CHUNK", 97)

    requests = load_run(run)[0].requests
    records = read_samples(run / SPEC.name / "samples")

    expected = records.records
    t = expected["ts"] - RUN_START
    np.testing.assert_array_equal(requests["t"].to_numpy(), t)
    np.testing.assert_array_equal(requests["latency_ms"].to_numpy(), expected["latency_ms"])
    np.testing.assert_array_equal(requests["co_latency_ms"].to_numpy(), expected["co_latency_ms"])
    np.testing.assert_array_equal(requests["ok"].to_numpy(), expected["ok"] == 1)
    np.testing.assert_array_equal(requests["status"].to_numpy(), expected["status"])
    names = np.asarray(records.endpoint_names(), dtype=object)
    np.testing.assert_array_equal(requests["endpoint"].astype(str).to_numpy(), names)
    late = (t - (expected["intended"] - RUN_START)) * 1000.0 > slo.LATE_THRESHOLD_MS
    np.testing.assert_array_equal(requests["late"].to_numpy(), late)
    assert late.any()  # the synthetic backlog starts late


def test_the_late_flag_counts_the_late_starts_the_intended_column_does(tmp_path: Path) -> None:
    run = make_run(tmp_path, [SPEC])
    phase = load_run(run)[0]
    records = read_samples(run / SPEC.name / "samples").records

    assert phase.samples is not None
    assert slo.late_starts(phase.samples.records) == slo.late_starts(records) > 0
    with pytest.raises(ValueError, match="late starts"):
        slo.late_starts(phase.samples.records, 25.0)


def test_bin_counts_and_count_below_equal_numpys() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.uniform(-2.0, 12.0, 5000), [np.nan, 0.0, 10.0, 5.0, 3.5]])
    edges = np.arange(0.0, 10.5, 0.5)

    np.testing.assert_array_equal(bin_counts(values, edges), np.histogram(values, bins=edges)[0])
    ordered = np.sort(values)
    for inclusive, side in ((False, "left"), (True, "right")):
        np.testing.assert_array_equal(
            count_below(values, edges, inclusive=inclusive),
            np.searchsorted(ordered, edges, side=side),  # type: ignore[call-overload]
        )
