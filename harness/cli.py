"""The ``capacity`` command line.

Each sub-command lives with the code it drives and registers itself through a ``register(sub)``
function; this module only wires them together and decides exit codes: a
:class:`~harness.errors.HarnessError` becomes one line on stderr and exit code 2, never a traceback;
output into a closed pipe (``capacity status | head -3``) ends quietly with exit code 141.
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import sys
from collections.abc import Callable, Sequence

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
    "history": "harness.history.cli",
    "trend": "harness.history.cli",
    "compare": "harness.gate.compare",
    "images": "harness.stack.images",
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


# 128 + SIGPIPE: what a shell reports for a tool that SIGPIPE ended.
CLOSED_PIPE_EXIT = 141


def quiet_on_closed_pipe(command: Callable[[], int]) -> int:
    """Run ``command``; if the reader of its output has gone (``| head``), exit 141, silently.

    Python ignores SIGPIPE, so a write into a closed pipe raises BrokenPipeError, from a
    ``print`` or from the final flush of buffered output; flushing here turns the second into
    the first. Then stdout points at /dev/null, so that the interpreter's own flush at exit has
    nowhere to fail (the recipe in the docs of the ``signal`` module). A BrokenPipeError from a
    socket (a server that hung up) is not a closed stdout, and is raised as it is.
    """
    try:
        try:
            return command()
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return CLOSED_PIPE_EXIT


def _stdout_reader_gone() -> bool:
    """Is stdout a pipe (or socket) with nobody left to read it? poll() says POLLERR then."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # replaced by an object without a descriptor
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def main(argv: Sequence[str] | None = None) -> int:
    return quiet_on_closed_pipe(lambda: _run(argv))


def _run(argv: Sequence[str] | None) -> int:
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
