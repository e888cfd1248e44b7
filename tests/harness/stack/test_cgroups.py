"""A CPU cap per local replica: a real child cgroup where this machine allows one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.errors import ComponentError
from harness.stack.cgroups import cpu_limiter


def test_a_process_lands_in_its_own_capped_cgroup() -> None:
    try:
        limiter = cpu_limiter(0.4)
    except ComponentError as exc:
        pytest.skip(f"no writable cpu cgroup here: {exc}")
    proc = subprocess.Popen(["sleep", "30"])
    try:
        limiter.add("api-1", proc.pid)
        group = next(iter(limiter._groups.values()))
        assert str(proc.pid) in (group / "cgroup.procs").read_text().split()
        if limiter.version == 2:
            assert (group / "cpu.max").read_text().split() == ["40000", "100000"]
        else:
            assert (group / "cpu.cfs_quota_us").read_text().strip() == "40000"
    finally:
        proc.kill()
        proc.wait()
        limiter.close()
    assert not group.exists()


def test_no_cpu_cgroup_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match=r"^cgroups: cannot cap replica CPU: no cpu cgroup"):
        cpu_limiter(0.4, root=tmp_path)


def test_a_v2_root_without_the_cpu_controller_says_so(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    with pytest.raises(ComponentError, match=r"no cpu controller"):
        cpu_limiter(0.4, root=tmp_path)
