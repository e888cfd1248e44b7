"""Reloading nginx: it returns once the old workers are gone, and a refused config is named."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ComponentError
from harness.stack.balancer import reload, workers
from harness.stack.nginx import prepare_local_dirs, render_local
from harness.stack.processes import ManagedProcess, find_nginx, free_port
from tests._wait import wait_until

from .conftest import get, needs_nginx

pytestmark = needs_nginx


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[ManagedProcess, Path, int]]:
    """A bare nginx before one upstream port nobody listens on: (process, its conf, its port)."""
    binary = find_nginx()
    assert binary is not None
    prepare_local_dirs(tmp_path)
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_local(tmp_path, port, [free_port()]))
    proc = ManagedProcess(
        "nginx",
        [str(binary), "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
        log_path=tmp_path / "logs" / "nginx.log",
        stop_signal=signal.SIGQUIT,
    ).start()
    assert proc.pid is not None
    pid = proc.pid
    assert wait_until(lambda: bool(workers(pid)), timeout=10)
    yield proc, conf, port
    proc.stop()


def test_a_reload_returns_once_every_old_worker_has_exited(
    nginx: tuple[ManagedProcess, Path, int],
) -> None:
    proc, _, _ = nginx
    assert proc.pid is not None
    before = workers(proc.pid)

    drained = reload(proc.pid, proc.log_path)

    after = workers(proc.pid)
    assert drained
    assert after
    assert not after & before


def test_a_configuration_nginx_refuses_is_named_and_the_old_workers_keep_serving(
    nginx: tuple[ManagedProcess, Path, int],
) -> None:
    proc, conf, port = nginx
    assert proc.pid is not None
    before = workers(proc.pid)
    conf.write_text("this is not an nginx configuration;\n")

    with pytest.raises(ComponentError, match=r"^nginx: reload not applied in 1 s") as caught:
        reload(proc.pid, proc.log_path, apply_timeout=1.0)

    assert "\n" not in str(caught.value)
    assert workers(proc.pid) == before
    assert get(f"http://127.0.0.1:{port}/health")[0] == 502  # serving, its upstream is not there
