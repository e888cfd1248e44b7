"""Builds the committed golden run directory and its expected report, byte for byte.

``python -m tests.harness.report.golden.make_golden`` rewrites the run directory beside it (the
input: a small, seeded synthetic run of four phases) and ``expected/`` (``summary.json`` and
``report.md`` as the report writes them). Run it only when a change to the report is meant;
``tests/harness/report/test_golden.py`` fails on any other difference.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
RUN_NAME = "20270115T080000Z_golden"
RUN = HERE / RUN_NAME
EXPECTED = HERE / "expected"
FILES = ("summary.json", "report.md")


def build_input() -> Path:
    """Four phases that exercise the report: db-bound with errors, scaling, and an invalid one."""
    from tests.harness._synthetic import PhaseSpec, audit_document, make_run

    def phase(name: str, replicas: int, cache: bool = True, **kw: object) -> PhaseSpec:
        return PhaseSpec(
            name=name, replicas=replicas, cache=cache, rates=(80.0,), stage_s=20.0, warmup_s=5.0,
            **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    phases = [
        phase(
            "r1-cache-off", 1, cache=False, latency_ms=(90.0,), error_rate=0.02,
            error_status=503, cpu={"db": 92.0, "api-1": 35.0, "nginx": 3.0, "generator": 20.0},
            seed=1,
        ),
        phase("r1-cache-on", 1, latency_ms=(40.0,), seed=2, audit=audit_document()),
        phase(
            "r2-cache-on", 2, latency_ms=(25.0,), seed=3,
            audit=audit_document(uncertain=(2, 1, 0), findings=[
                ("lost", "update", "status: the database holds 'todo', the update acknowledged "
                 "(200 at +21.4 s) sent 'done'"),
                ("ambiguous", "create", "'ephemeral plan notes' of account 7, made by no "
                 "acknowledged create; a create (503 at +12.0 s) may explain it"),
            ]),
            cpu={"db": 30.0, "redis": 5.0, "api-1": 25.0, "api-2": 25.0, "nginx": 4.0,
                 "generator": 30.0},
        ),
        phase(
            "r3-cache-on", 3, latency_ms=(22.0,), achieved_share=0.8, seed=4,
            cpu={"db": 30.0, "redis": 5.0, "api-1": 15.0, "api-2": 15.0, "api-3": 15.0,
                 "nginx": 4.0, "generator": 95.0},
        ),
    ]  # fmt: skip
    scratch = HERE / ".build"
    shutil.rmtree(scratch, ignore_errors=True)
    run = make_run(scratch, phases, name=RUN_NAME, scenario="golden")
    shutil.rmtree(RUN, ignore_errors=True)
    shutil.move(run, RUN)
    shutil.rmtree(scratch)
    # The manifests name the scenario file relative to the repository (the test runs from there).
    for manifest in RUN.glob("*/manifest.json"):
        text = manifest.read_text().replace(str(scratch / RUN_NAME), str(RUN.relative_to(REPO)))
        manifest.write_text(text)
    return RUN


def render(out: Path) -> None:
    from harness.cli import main

    code = main(["report", str(RUN.relative_to(REPO)), "--out", str(out), "--target-rate", "300"])
    if code != 0:
        raise SystemExit(f"capacity report exited {code}")


def main() -> int:
    import os

    os.chdir(REPO)
    build_input()
    scratch = HERE / ".render"
    shutil.rmtree(scratch, ignore_errors=True)
    render(scratch)
    EXPECTED.mkdir(exist_ok=True)
    for name in FILES:
        shutil.copyfile(scratch / name, EXPECTED / name)
    shutil.rmtree(scratch)
    print(f"wrote {RUN.relative_to(REPO)} and {EXPECTED.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
