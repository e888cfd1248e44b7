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

# sub-command -> the module that registers it. Only the module of the command being run is
# imported, so `capacity status` does not pay for pandas, scipy and matplotlib.
_COMMANDS = {
    "up": "harness.stack.commands",
    "status": "harness.stack.commands",
    "down": "harness.stack.commands",
    "seed": "harness.run.seed",
    "run": "harness.run.cli",
    "demo": "harness.run.cli",
    "report": "harness.report.cli",
    "gate": "harness.gate.cli",
    "baseline": "harness.gate.cli",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for ``command`` alone, or for every command when it is unknown or absent."""
    parser = argparse.ArgumentParser(
        prog="capacity",
        description="Run the Primo task API at 1..N replicas, load it, and report its capacity.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = (
        [_COMMANDS[command]] if command in _COMMANDS else list(dict.fromkeys(_COMMANDS.values()))
    )
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from harness.errors import HarnessError

    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
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
