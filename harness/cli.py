"""The ``capacity`` command line.

Each sub-command lives with the code it drives and registers itself through a ``register(sub)``
function; this module only wires them together and decides exit codes: a
:class:`~harness.errors.HarnessError` becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# module that owns the sub-commands -> imported lazily so `capacity --help` stays fast
_COMMAND_MODULES = (
    "harness.stack.commands",   # up, status, down
    "harness.seed",             # seed
    "harness.runner",           # run, demo
    "harness.report",           # report
    "harness.gates",            # gate, baseline
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capacity",
        description="Run the Primo task API at 1..N replicas, load it, and report its capacity.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
            continue  # that part is not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from harness.errors import HarnessError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except HarnessError as exc:
        print(f"capacity {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"capacity {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
