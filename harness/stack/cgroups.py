"""A CPU cap per local API replica: a child cgroup with a CFS quota, the pid moved in.

What ``cpus: 0.4`` does for a container, done for a process: cgroup v2 ``cpu.max`` (under
/sys/fs/cgroup, when ``cpu`` is in ``cgroup.controllers`` and the directory is writable), or
cgroup v1's ``cpu.cfs_quota_us`` (under /sys/fs/cgroup/cpu). Where neither can be written (no
root, a container without cgroup delegation), :func:`cpu_limiter` raises one line saying so.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from harness.errors import ComponentError

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


class CpuLimiter:
    """``add(name, pid)`` puts ``pid`` in its own cgroup capped at ``cores``; ``close`` removes
    the cgroups (the processes must have ended)."""

    def __init__(self, parent: Path, cores: float, version: int) -> None:
        self.parent = parent
        self.cores = cores
        self.version = version
        self._groups: dict[str, Path] = {}

    def add(self, name: str, pid: int) -> None:
        try:
            self._add(name, pid)
        except OSError as exc:  # EBUSY, EINVAL on a nested v1 hierarchy, a pid already gone
            raise ComponentError(
                "cgroups", f"cannot cap {name}'s CPU: {exc.filename or ''} ({exc.strerror})"
            ) from exc

    def _add(self, name: str, pid: int) -> None:
        group = self._groups.get(name)
        if group is None:
            group = self.parent / f"primo-{os.getpid()}-{name}"
            group.mkdir(exist_ok=True)
            quota = max(1000, round(self.cores * PERIOD_US))
            if self.version == 2:
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}\n")
            else:
                (group / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
                (group / "cpu.cfs_quota_us").write_text(f"{quota}\n")
            self._groups[name] = group
        (group / "cgroup.procs").write_text(f"{pid}\n")

    def close(self) -> None:
        for group in self._groups.values():
            with contextlib.suppress(OSError):  # still busy: left for the next boot
                group.rmdir()
        self._groups.clear()


def cpu_limiter(cores: float, root: Path = CGROUP_ROOT) -> CpuLimiter:
    """A limiter on this machine's cgroups, or a :class:`ComponentError` saying why not."""
    controllers = root / "cgroup.controllers"
    if controllers.exists():  # cgroup v2 (unified)
        if "cpu" not in controllers.read_text().split():
            raise ComponentError("cgroups", f"cannot cap replica CPU: no cpu controller in {root}")
        parent, version = _own_group_v2(root), 2
    elif (root / "cpu" / "cpu.cfs_quota_us").exists():  # cgroup v1
        parent, version = root / "cpu", 1
    else:
        raise ComponentError("cgroups", f"cannot cap replica CPU: no cpu cgroup under {root}")
    if not os.access(parent, os.W_OK):
        raise ComponentError(
            "cgroups", f"cannot cap replica CPU: {parent} is not writable (run as root)"
        )
    return CpuLimiter(parent, cores, version)


def _own_group_v2(root: Path) -> Path:
    """cgroup v2: children go in the root, whose subtree must enable ``cpu`` (enabled here when
    it is not, which the root cgroup allows)."""
    subtree = root / "cgroup.subtree_control"
    if "cpu" not in subtree.read_text().split():
        try:
            subtree.write_text("+cpu\n")
        except OSError as exc:
            raise ComponentError(
                "cgroups", f"cannot cap replica CPU: +cpu in {subtree} refused ({exc.strerror})"
            ) from exc
    return root
