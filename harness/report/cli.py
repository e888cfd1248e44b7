"""``capacity report`` and ``analyze.py``: the arguments, their checks and the exit code."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.analysis.capacity import DEFAULT_TARGET_RATE
from harness.analysis.pricing import load_price_table
from harness.errors import BadInputError
from harness.report.render import build_report


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="analyse run directories: report.md, report.html, summary.json and plots",
        description="Analyse one or more run directories (several are compared, the first is "
        "the reference) and write report.md, a self-contained report.html, summary.json and "
        "PNG plots into the first run directory or --out.",
    )
    add_report_arguments(parser)
    parser.set_defaults(func=run_report_command)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--out", type=Path, help="output directory (default: the first RUN_DIR)")
    parser.add_argument(
        "--target-rate",
        type=float,
        default=DEFAULT_TARGET_RATE,
        help="request rate to size for (default: %(default)g req/s)",
    )
    parser.add_argument(
        "--price-table", type=Path, help="TOML/JSON/CSV with replica_hour and/or vcpu_hour prices"
    )
    parser.add_argument(
        "--cores-per-replica",
        type=float,
        default=1.0,
        help="CPU share of one replica, for the 70 %% CPU sizing (default: 1)",
    )
    parser.add_argument(
        "--history",
        type=Path,
        metavar="PATH",
        help="add a 'Trend over runs' section from this history (capacity history add)",
    )


def run_report_command(args: argparse.Namespace) -> int:
    if args.target_rate <= 0:
        raise BadInputError(f"--target-rate {args.target_rate:g}: must be positive")
    if args.cores_per_replica <= 0:
        raise BadInputError(f"--cores-per-replica {args.cores_per_replica:g}: must be positive")
    price = load_price_table(args.price_table) if args.price_table else None
    report = build_report(
        args.runs,
        out=args.out,
        target_rate=args.target_rate,
        price=price,
        cores_per_replica=args.cores_per_replica,
        history=args.history,
    )
    print(report.html)
    return 0
