"""``capacity images build``: the offline stand-ins of compose.yaml's images, with no registry.

A machine with no registry (this one, air-gapped CI) cannot pull python, mongo, redis or nginx.
The stand-ins come from what it can reach: Debian packages from its own apt mirror and PyPI wheels
(docs/architecture.md, "Images without a registry").

1. ``base``: ``debootstrap --variant=minbase bookworm ROOTFS MIRROR`` with python3, nginx-light
   and redis-server, the entrypoints below written in, then ``tar | docker import``.
2. The wheels of ``.[api]`` and SecantusDB, built on the host (``pip wheel``).
3. ``app``: ``compose/offline.Dockerfile`` (legacy builder, no BuildKit) installs the wheels into
   a venv on top of ``base``. compose.offline.yaml runs redis and nginx from ``base``, the API and
   SecantusDB from ``app``, and sets their commands.

Each image carries the hash of its inputs (``base``: a label; ``app``: a tag); a step whose
inputs have not changed is skipped, so a second build costs a few ``docker image inspect`` calls.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ComponentError
from harness.stack.engine import image_exists, require_engine, run

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "compose" / "offline.Dockerfile"
LAUNCHER = Path(__file__).with_name("secantus_launcher.py")
LABEL = "org.primo-capacity.inputs"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "nginx-light", "redis-server", "wget", "ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# The wheels are resolved by the host's Python, the image runs Debian's (3.11.2): what a marker
# asks of an older 3.11 must be there too (redis: async-timeout before 3.11.3).
OLDER_PYTHON_WHEELS = ("async-timeout>=4.0.3",)

BASE = "primo-offline-base:latest"
ROOT_MODE = 0o755
APP = "primo-offline-app:latest"
# compose service -> the offline image compose.offline.yaml runs it from.
IMAGES = {"api": APP, "mongodb": APP, "redis": BASE, "nginx": BASE}

# Written into the rootfs before the import: what the official images' entrypoints do.
ENTRYPOINTS = {
    # The official redis image turns protected mode off (a container is reached over its network).
    "redis-entrypoint": """#!/bin/sh
if [ "${1:-}" = redis-server ]; then
  shift; exec redis-server --bind 0.0.0.0 --protected-mode no "$@"
fi
exec "$@"
""",
    # Debian's nginx 1.22 has no upstream `resolve` (1.27.3+): drop it; `api` is then resolved
    # when nginx starts and on each reload (SIGHUP), which the compose backend sends.
    "nginx-entrypoint": """#!/bin/sh
if [ "${1:-}" = nginx ] && [ -f /etc/nginx/nginx.conf ]; then
  sed -E 's/ resolve( |;)/\\1/' /etc/nginx/nginx.conf > /run/nginx.conf
  shift; exec nginx -c /run/nginx.conf "$@"
fi
exec "$@"
""",
}


@dataclass
class Step:
    """One image of the build: what it is, and whether this build made it or found it."""

    image: str
    inputs: str
    built: bool
    seconds: float


def register(sub: Any) -> None:
    images = sub.add_parser("images", help="offline stand-ins of the compose images")
    verbs = images.add_subparsers(dest="images_command", metavar="VERB", required=True)
    build = verbs.add_parser(
        "build", help="build them from Debian packages and wheels (cached by their inputs)"
    )
    build.add_argument("--mirror", help="Debian mirror (default: the first of the apt sources)")
    build.add_argument("--force", action="store_true", help="rebuild even when inputs match")
    build.add_argument(
        "--work-dir", type=Path, default=Path(".capacity") / "images", help="scratch space"
    )
    build.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    began = time.monotonic()
    for step in build_all(args.work_dir, mirror=args.mirror, force=args.force, log=print):
        verb = "built" if step.built else "cached"
        print(f"{verb:6} {step.image:28} inputs {step.inputs[:12]}  {step.seconds:6.1f} s")
    print(f"offline images ready in {time.monotonic() - began:.0f} s")
    return 0


def build_all(
    work_dir: Path, mirror: str | None = None, force: bool = False, log: Any = None
) -> list[Step]:
    """Every offline image, built or found by its input hash; the steps in order."""
    require_engine()
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _msg: None)
    steps = [_base(work_dir, mirror or apt_mirror(), force, say)]
    key = _digest([image_id(BASE), DOCKERFILE.read_text(), *_project_inputs()])
    if not force and _app_is(key):
        return [*steps, Step(APP, key, False, 0.0)]
    began = time.monotonic()
    context = work_dir / "context"
    shutil.rmtree(context, ignore_errors=True)
    (context / "wheels").mkdir(parents=True)
    say("wheels: pip wheel .[api] secantusdb")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir",
          str(context / "wheels"), f"{ROOT}[api]", "secantusdb", *OLDER_PYTHON_WHEELS],
         timeout=900)  # fmt: skip
    shutil.copy(LAUNCHER, context / "secantus_launcher.py")
    say(f"{APP}: docker build (legacy builder)")
    try:
        _run(["docker", "build", "--quiet", "--force-rm", "--file", str(DOCKERFILE), "--build-arg",
              f"BASE={BASE}", "--tag", _app_tag(key), str(context)],
             timeout=1800, env={"DOCKER_BUILDKIT": "0"})  # fmt: skip
    finally:
        shutil.rmtree(context, ignore_errors=True)
    _run(["docker", "tag", _app_tag(key), APP])
    _prune_apps(keep=_app_tag(key))
    return [*steps, Step(APP, key, True, time.monotonic() - began)]


def _prune_apps(keep: str) -> None:
    """Remove the app images of earlier inputs: each is a full copy under vfs (~400 MB), and a CI
    machine that builds on every change would fill its disk. One still in use stays."""
    name = APP.split(":")[0]
    listed = _run(["docker", "images", name, "--format", "{{.Repository}}:{{.Tag}}"])
    for image in listed.stdout.split():
        if image not in (keep, APP):
            subprocess.run(["docker", "rmi", image], capture_output=True, check=False)


def _base(work_dir: Path, mirror: str, force: bool, say: Any) -> Step:
    key = _digest([SUITE, *PACKAGES, *ENTRYPOINTS.values(), f"root mode {ROOT_MODE:o}"])
    if not force and image_label(BASE) == key:
        return Step(BASE, key, False, 0.0)
    if shutil.which("debootstrap") is None:
        raise ComponentError("images", "debootstrap is not installed (apt-get install debootstrap)")
    began = time.monotonic()
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=work_dir))
    rootfs.chmod(ROOT_MODE)  # mkdtemp's 0700 would become the image's `/`: only root gets in
    try:
        say(f"{BASE}: debootstrap --variant=minbase {SUITE} ({mirror})")
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
              SUITE, str(rootfs), mirror], timeout=1800)  # fmt: skip
        _unmount_under(rootfs)
        _finish_rootfs(rootfs)
        say(f"{BASE}: docker import")
        with subprocess.Popen(
            ["tar", "--one-file-system", "--numeric-owner", "-C", str(rootfs), "-c", "."],
            stdout=subprocess.PIPE,
        ) as tar:
            _run(["docker", "import", "--change", f"LABEL {LABEL}={key}",
                  "--change", "CMD [\"/bin/bash\"]", "-", BASE], stdin=tar.stdout,
                 timeout=900)  # fmt: skip
            if tar.wait() != 0:
                raise ComponentError("images", f"tar of {rootfs} exited {tar.returncode}")
    finally:
        _remove_rootfs(rootfs)
    return Step(BASE, key, True, time.monotonic() - began)


def _finish_rootfs(rootfs: Path) -> None:
    """The entrypoints, logs on the container's stdout/stderr, no apt lists or package cache."""
    bin_dir = rootfs / "usr" / "local" / "bin"
    for name, text in ENTRYPOINTS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    logs = rootfs / "var" / "log" / "nginx"
    logs.mkdir(parents=True, exist_ok=True)
    for name, target in (("access.log", "/dev/stdout"), ("error.log", "/dev/stderr")):
        with contextlib.suppress(FileNotFoundError):
            (logs / name).unlink()
        (logs / name).symlink_to(target)
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / sub).glob("*"):
            if item.is_file():
                item.unlink()


def _unmount_under(rootfs: Path) -> None:
    """debootstrap leaves /proc or /sys mounted when it fails half-way: never delete through."""
    for mount in sorted(_mounts_under(rootfs), reverse=True):
        subprocess.run(["umount", "--lazy", mount], check=False, capture_output=True)


def _mounts_under(rootfs: Path) -> list[str]:
    prefix = str(rootfs.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return [p for p in points if p.startswith(prefix)]


def _remove_rootfs(rootfs: Path) -> None:
    _unmount_under(rootfs)
    if _mounts_under(rootfs):  # still mounted: leave it rather than delete through a mount
        return
    shutil.rmtree(rootfs, ignore_errors=True)


def _project_inputs() -> list[str]:
    """What the app image runs: packaging files, the API's source, the SecantusDB launcher (the
    project's wheel holds ``harness`` too, which no container runs: a change there rebuilds
    nothing)."""
    files = [ROOT / "pyproject.toml", LAUNCHER, *sorted(ROOT.glob("*.lock"))]
    files += sorted(
        p
        for p in (ROOT / "reference_api").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    return [f"{p.relative_to(ROOT)}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in files]


def _digest(parts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def apt_mirror(sources: Sequence[Path] | None = None) -> str:
    """The first Debian mirror this machine's apt sources name (not the security archive)."""
    if sources is None:
        sources = [Path("/etc/apt/sources.list"),
                   *sorted(Path("/etc/apt/sources.list.d").glob("*.list")),
                   *sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))]  # fmt: skip
    pattern = re.compile(r"^\s*(?:deb\s+(?:\[[^]]*\]\s+)?|URIs:\s*)(\S+)", re.MULTILINE)
    for source in sources:
        with contextlib.suppress(OSError):
            for uri in pattern.findall(source.read_text()):
                if "debian" in uri and "security" not in uri:
                    return str(uri)
    return DEFAULT_MIRROR


def image_label(image: str) -> str | None:
    """The input hash an image was built from, or None when there is no such image."""
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{LABEL}"}}}}',
         image],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    label = done.stdout.strip() if done.returncode == 0 else ""
    return label or None


def _app_is(key: str) -> bool:
    """Is ``app`` built from inputs ``key``? It carries the hash as a tag, not a label: a label
    is one more build step, and on vfs each step copies the whole filesystem."""
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", APP, _app_tag(key)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    ids = done.stdout.split()
    return done.returncode == 0 and len(ids) == 2 and ids[0] == ids[1]


def _app_tag(key: str) -> str:
    return f"{APP.split(':')[0]}:{key[:16]}"


def image_id(image: str) -> str:
    done = _run(["docker", "image", "inspect", "--format", "{{.Id}}", image])
    return done.stdout.strip()


def offline_images_present() -> bool:
    return image_label(BASE) is not None and image_exists(APP)


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run(argv, component="images", **kwargs)
