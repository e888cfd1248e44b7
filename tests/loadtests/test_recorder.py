from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _recorder import Collector, Recorder

from harness.core.samples import SAMPLE_DTYPE, read_samples


def record_some(recorder: Recorder, n: int, t0: float, endpoint: str = "GET /api/tasks") -> None:
    for i in range(n):
        recorder.add(endpoint, t0 + i, t0 + i - 0.5, 10.0 + i, 200, ok=i % 10 != 0)


def test_a_recorded_request_keeps_its_exact_latency_and_corrected_latency() -> None:
    recorder = Recorder(worker=3)
    recorder.add("GET /api/tasks/{id}", 100.25, 100.0, 12.345678, 200, ok=True)

    (row,) = recorder.drain()

    assert row["latency_ms"] == 12.345678
    assert row["co_latency_ms"] == pytest.approx(250 + 12.345678)
    assert recorder.endpoints[row["endpoint"]] == "GET /api/tasks/{id}"
    assert (row["status"], row["ok"], row["worker"]) == (200, 1, 3)


def test_draining_empties_the_buffer_and_counts_the_total() -> None:
    recorder = Recorder()
    record_some(recorder, 5, 0.0)

    first, second = recorder.drain(), recorder.drain()

    assert (first.shape[0], second.shape[0], recorder.total) == (5, 0, 5)


def test_batches_from_two_workers_merge_into_one_samples_directory(tmp_path: Path) -> None:
    # each worker learned endpoint names in its own order: the collector re-maps the indices
    one, two = Recorder(worker=0), Recorder(worker=1)
    record_some(one, 30, 1000.0, "GET /api/tasks")
    one.add("GET /custom", 1000.5, 1000.5, 1.0, 201, ok=True)
    two.add("GET /custom", 1001.5, 1001.5, 2.0, 201, ok=True)
    record_some(two, 20, 2000.0, "GET /api/tasks/stats")
    collector = Collector(tmp_path)

    collector.add_batch(one.batch())
    collector.add_batch(two.batch())
    record_some(one, 5, 3000.0)
    collector.add_batch(one.batch(final=True))
    assert not collector.complete()
    collector.add_batch(two.batch(final=True))
    assert collector.complete()
    collector.close(run_start=999.0)

    samples = read_samples(tmp_path)
    names = samples.endpoint_names()
    assert len(samples) == 57 == collector.count
    assert (names == "GET /custom").sum() == 2
    assert (names == "GET /api/tasks/stats").sum() == 20
    assert np.all(samples.records["worker"][names == "GET /api/tasks/stats"] == 1)
    assert np.all(np.diff(samples.records["ts"]) >= 0)
    assert [w["records"] for w in samples.meta["workers"]] == [36, 21]
    assert samples.meta["run_start"] == 999.0


def test_a_missing_final_batch_leaves_the_collection_incomplete(tmp_path: Path) -> None:
    worker = Recorder(worker=0)
    record_some(worker, 10, 0.0)
    lost = worker.batch()  # never delivered
    collector = Collector(tmp_path)

    collector.add_batch(worker.batch(final=True))

    complete = collector.complete({0}), collector.complete({0, 1})
    collector.close()

    assert lost["total"] == 10
    assert complete == (False, False)


def test_batches_travel_as_packed_bytes() -> None:
    recorder = Recorder()
    record_some(recorder, 3, 0.0)

    batch = recorder.batch()

    assert isinstance(batch["records"], bytes)
    assert len(batch["records"]) == 3 * SAMPLE_DTYPE.itemsize


def test_cpu_is_sampled_from_process_time() -> None:
    recorder = Recorder()
    sum(i * i for i in range(200_000))  # burn a little CPU

    percent = recorder.sample_cpu()

    assert percent > 0
    assert recorder.cpu[-1][1] == pytest.approx(percent, abs=0.01)


def test_a_batch_that_could_not_be_sent_goes_out_with_the_next_one(tmp_path: Path) -> None:
    recorder = Recorder(worker=1)
    record_some(recorder, 3, 0.0)
    lost = recorder.batch()
    recorder.requeue(lost)  # the send failed
    record_some(recorder, 2, 10.0)

    collector = Collector(tmp_path)
    collector.add_batch(recorder.batch())
    collector.add_batch(recorder.batch(final=True) | {"slots": 5})
    collector.close()

    samples = read_samples(tmp_path)
    assert samples.records["ts"].tolist() == [0.0, 1.0, 2.0, 10.0, 11.0]
    (worker,) = samples.meta["workers"]
    assert (worker["records"], worker["complete"], worker["slots"]) == (5, True, 5)
