"""The gate as a classifier, on synthetic latency samples: how often an A/A pair (no change) FAILs,
and how often a +10 % shift of p95 is detected. The samples are log-normal per request, with a
per-5-s-block factor (load noise) and a per-run factor (a drift the blocks of one run cannot
see); the judging path is the CLI's: block values → :func:`regression_check`.

The design point: a 2-minute steady window at 100 req/s on each side, ``--max-regression 5`` (a
+10 % shift is twice the allowance; at an allowance of 10 % it would be caught half the time, by
construction). Shorter windows have more noise, and the gate answers INCONCLUSIVE more often.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from harness.analysis.load import latency_percentiles
from harness.gate.baseline import PhaseBaseline
from harness.gate.regression import regression_check

PAIRS = 200
BLOCKS, PER_BLOCK = 24, 500  # 120 s at 100 req/s, in 5 s blocks
MEDIAN_MS, REQUEST_SIGMA, BLOCK_SIGMA, RUN_SIGMA = 20.0, 0.5, 0.03, 0.01
MAX_REGRESSION = 5.0


def _run(rng: np.random.Generator, shift: float = 1.0) -> PhaseBaseline:
    run = shift * rng.lognormal(0.0, RUN_SIGMA)
    block = rng.lognormal(0.0, BLOCK_SIGMA, size=(BLOCKS, 1))
    latency = MEDIAN_MS * run * block * rng.lognormal(0.0, REQUEST_SIGMA, size=(BLOCKS, PER_BLOCK))
    # np.percentile's linear interpolation along the rows is harness.core.samples.percentile
    blocks = np.percentile(latency, 95, axis=1)
    return PhaseBaseline({"p95_ms": latency_percentiles(latency.ravel())[1]}, {"p95_ms": [*blocks]})


def _verdicts(seed: int, shift: float) -> Counter[str]:
    rng = np.random.default_rng(seed)
    return Counter(
        regression_check("r1", "p95_ms", _run(rng), _run(rng, shift), MAX_REGRESSION).verdict
        for _ in range(PAIRS)
    )


def test_the_block_values_are_the_percentiles_the_cli_computes() -> None:
    latency = np.random.default_rng(0).lognormal(3.0, 0.5, size=(2, 500))

    assert np.percentile(latency, 95, axis=1)[1] == latency_percentiles(latency[1])[1]


def test_at_most_1_percent_of_a_a_pairs_fail_and_95_percent_of_10_percent_rises_do() -> None:
    same = _verdicts(seed=14, shift=1.0)
    shifted = _verdicts(seed=15, shift=1.10)

    false_fail = same["FAIL"] / PAIRS
    detected = shifted["FAIL"] / PAIRS
    print(
        f"\ngate classifier over {PAIRS} pairs ({BLOCKS * 5} s at 100 req/s per run, "
        f"--max-regression {MAX_REGRESSION:g}): A/A {dict(same)} -> false FAIL {false_fail:.1%}; "
        f"+10 % p95 {dict(shifted)} -> detected {detected:.1%}"
    )
    assert false_fail <= 0.01
    assert detected >= 0.95
