"""A harness that dies by SIGKILL leaves no component behind (PDEATHSIG)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.stack.health import port_is_free
from tests._wait import wait_until

from .conftest import needs_nginx, none_alive

pytestmark = pytest.mark.slow

CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import psutil
    from harness.stack import LocalStack, StackConfig

    stack = LocalStack(StackConfig(replicas=2, lb="nginx", work_dir=Path(sys.argv[1]))).up()
    pids = set(stack.pids().values())
    for pid in list(pids):
        pids.update(c.pid for c in psutil.Process(pid).children(recursive=True))
    ports = [c.port for c in stack.components() if c.port]
    print(json.dumps({"pids": sorted(pids), "ports": ports}), flush=True)
    sys.stdin.read()  # until the test kills us
    """
)


@needs_nginx
def test_sigkill_of_the_harness_leaves_no_orphan(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "stack")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as harness:
        assert harness.stdout is not None
        started = json.loads(harness.stdout.readline())
        pids, ports = set(started["pids"]), started["ports"]
        assert len(pids) >= 6  # db, redis, 2 replicas, nginx master and its workers

        os.kill(harness.pid, signal.SIGKILL)
        harness.wait(10)

        assert wait_until(lambda: none_alive(pids), timeout=30)
        assert wait_until(lambda: all(port_is_free(p) for p in ports), timeout=10)
