"""``python analyze.py RUN_DIR... [--out DIR] [--target-rate N] [--price-table FILE]``.

The same as ``capacity report``, for reviewers who have the repository but not the CLI on PATH.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.cli import quiet_on_closed_pipe
from harness.errors import HarnessError
from harness.report.cli import add_report_arguments, run_report_command


def main(argv: Sequence[str] | None = None) -> int:
    return quiet_on_closed_pipe(lambda: _analyze(argv))


def _analyze(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="analyze.py",
        description="Analyse run directories into report.md, report.html, summary.json and plots.",
    )
    add_report_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_report_command(args)
    except HarnessError as exc:
        print(f"analyze.py: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
