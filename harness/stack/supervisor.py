"""Keeps one stack running in the background for ``capacity up``.

``python -m harness.stack.supervisor --state-dir DIR --config FILE`` starts the stack (its
children die with this process), writes ``DIR/stack.json``, waits for SIGTERM (``capacity down``),
then stops everything and removes the state. The JWT secret is generated here and never leaves the
process environment of the replicas.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from harness.errors import HarnessError
from harness.stack.backends import Stack, open_stack
from harness.stack.config import StackConfig
from harness.stack.state import StateFile, process_identity


class _Stopped(Exception):
    """SIGTERM arrived while the stack was starting."""


def describe(stack: Stack, startup_s: float) -> dict[str, Any]:
    """The state of a started stack (everything ``status`` and ``down`` need)."""
    components = []
    for status in stack.components():
        item = status.to_json()
        item["identity"] = process_identity(status.pid)
        components.append(item)
    return {
        "status": "ready",
        "backend": stack.config.backend,
        "url": stack.url,
        "balancer": stack.balancer,
        "mongodb_uri": stack.mongodb_uri,
        "redis_url": stack.redis_url,
        "config": stack.config.to_json(),
        "components": components,
        "startup_s": round(startup_s, 2),
        "started": time.time(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.stack.supervisor")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--config", type=Path, required=True, help="StackConfig as JSON")
    args = parser.parse_args(argv)

    state = StateFile(args.state_dir)
    stop = threading.Event()
    starting = True

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if starting:
            raise _Stopped

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    identity = {"supervisor_pid": os.getpid(), "supervisor_identity": process_identity(os.getpid())}
    state.write({"status": "starting", **identity})
    started = time.monotonic()
    try:
        config = StackConfig.from_json(json.loads(args.config.read_text()))
        stack = open_stack(config)
        stack.up()
        starting = False
    except _Stopped:
        state.remove()
        return 0
    except HarnessError as exc:
        state.write({"status": "failed", "error": str(exc), **identity})
        return exc.exit_code
    except Exception as exc:
        state.write({"status": "failed", "error": f"supervisor: {exc!r}", **identity})
        raise

    state.write({**describe(stack, time.monotonic() - started), **identity})
    print(f"stack ready at {stack.url} in {time.monotonic() - started:.1f} s", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        stack.down()
        state.remove()
        print("stack stopped", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
