"""``capacity up | status | down``: one stack in the background, found again through its state.

``up`` hands the stack to a detached supervisor (:mod:`harness.stack.supervisor`), because every
component dies with the process that started it; it returns once the state says ``ready``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import BadInputError, HarnessError
from harness.stack.config import DEFAULT_APP, ComponentStatus, StackConfig
from harness.stack.health import port_is_free
from harness.stack.local import redact
from harness.stack.processes import log_tail
from harness.stack.state import DEFAULT_STATE_DIR, StateFile, alive, recheck

UP_TIMEOUT = 180.0
DOWN_TIMEOUT = 60.0


def register(sub: Any) -> None:
    up = sub.add_parser("up", help="start a stack in the background and print its URL")
    up.add_argument("--replicas", type=int, default=1, help="API replicas (default 1)")
    up.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run Redis and let the API cache (default on)",
    )
    up.add_argument(
        "--lb",
        choices=("auto", "nginx", "shared-socket"),
        default="auto",
        help="balancer: nginx, one shared socket, or nginx when on PATH (default)",
    )
    up.add_argument("--mongodb-uri", help="use this MongoDB instead of an embedded SecantusDB")
    up.add_argument("--redis-url", help="use this Redis instead of starting one")
    up.add_argument("--port", type=int, help="port of the stack's URL (default: a free one)")
    up.add_argument("--backend", choices=("local", "compose"), default="local")
    up.add_argument(
        "--cpus-per-replica",
        type=float,
        metavar="CORES",
        help="cap each API replica at this many cores (compose cpus:, a cgroup locally)",
    )
    up.add_argument(
        "--images",
        choices=("auto", "official", "offline"),
        default="auto",
        help="compose: the official images, or the stand-ins of `capacity images build` "
        "(auto: those when an official image is missing)",
    )
    up.add_argument(
        "--scenario",
        metavar="NAME",
        help="give every replica the API settings `capacity run NAME` gives them: the rate "
        "limits lifted, then the scenario's [env] (a name in scenarios/ or a path)",
    )
    up.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="API setting for every replica (repeatable; wins over --scenario), "
        "e.g. RATE_LIMIT_MAX=1000000",
    )
    up.add_argument(
        "--lb-rate-limit",
        type=int,
        default=100_000,
        metavar="RPS",
        help="nginx requests/s per client IP (default 100000: no throttling)",
    )
    up.add_argument(
        "--app",
        default=DEFAULT_APP,
        metavar="MODULE:FACTORY",
        help=f"ASGI app factory the replicas serve (default {DEFAULT_APP})",
    )
    up.add_argument("--timeout", type=float, default=UP_TIMEOUT, help="seconds to wait for ready")
    _state_dir_option(up)
    up.set_defaults(func=cmd_up)

    status = sub.add_parser("status", help="health of every component of the running stack")
    status.add_argument("--json", action="store_true", help="print the state as JSON")
    _state_dir_option(status)
    status.set_defaults(func=cmd_status)

    down = sub.add_parser("down", help="stop the running stack and wait until nothing is left")
    down.add_argument("--timeout", type=float, default=DOWN_TIMEOUT)
    _state_dir_option(down)
    down.set_defaults(func=cmd_down)


def _state_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="where the state file and the logs live (default .capacity)",
    )


# -- up ----------------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    state_dir = args.state_dir.resolve()
    state = StateFile(state_dir)
    work_dir = state_dir / "work"
    config = stack_config(args, work_dir)
    _refuse_second_stack(state)
    shutil.rmtree(work_dir, ignore_errors=True)  # a fresh stack: empty database, new logs
    state_dir.mkdir(parents=True, exist_ok=True)
    config_file = state_dir / "config.json"
    config_file.write_text(json.dumps(config.to_json(), indent=2) + "\n")
    log_path = state_dir / "supervisor.log"
    began = time.monotonic()
    supervisor = _spawn_supervisor(state_dir, config_file, log_path)
    try:
        data = _wait_ready(state, supervisor, log_path, args.timeout)
    except BaseException:
        _stop_supervisor(supervisor)
        raise
    print(f"stack up in {time.monotonic() - began:.1f} s: {data['url']}")
    print(f"balancer: {_balancer_line(data, config)}")
    if args.scenario:
        print(f"API settings of scenario {args.scenario}: {_env_line(config.env, args.env)}")
    _print_table(data, [ComponentStatus.from_json(c) for c in data["components"]])
    print(f"state: {state.path}   stop with: capacity down")
    return 0


def stack_config(args: argparse.Namespace, work_dir: Path) -> StackConfig:
    """The stack ``capacity up`` starts; with ``--scenario``, its replicas get the env
    ``capacity run`` gives them (:meth:`Scenario.api_env`), and an explicit ``--env`` wins."""
    env: dict[str, str] = {}
    if args.scenario:
        from harness.core.scenario import load_scenario  # pydantic: only when asked for

        env = load_scenario(args.scenario).api_env()
    return StackConfig(
        replicas=args.replicas,
        cache=args.cache,
        lb=args.lb,
        mongodb_uri=args.mongodb_uri,
        redis_url=args.redis_url,
        port=args.port,
        backend=args.backend,
        work_dir=work_dir,
        env={**env, **_parse_env(args.env)},
        lb_rate_limit=args.lb_rate_limit,
        app=args.app,
        cpus_per_replica=args.cpus_per_replica,
        images=args.images,
    )


def _env_line(env: dict[str, str], explicit: Sequence[str]) -> str:
    """``KEY=VALUE`` for the settings from the scenario; only the names of the ``--env`` ones,
    whose values may be secrets."""
    given = _parse_env(explicit)
    shown = [f"{key}={value}" for key, value in env.items() if key not in given]
    if given:
        shown.append(f"(and from --env: {', '.join(given)})")
    return " ".join(shown)


def _refuse_second_stack(state: StateFile) -> None:
    data = state.read()
    if data is None:
        return
    if alive(data.get("supervisor_pid"), data.get("supervisor_identity")):
        where = data.get("url") or "(still starting)"
        raise BadInputError(
            f"a stack is already running at {where} (state {state.path}); run `capacity down` first"
        )
    state.remove()  # its supervisor is gone, and its components died with it


def _parse_env(pairs: Sequence[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadInputError(f"--env {pair!r}: expected KEY=VALUE")
        env[key] = value
    return env


def _spawn_supervisor(state_dir: Path, config_file: Path, log_path: Path) -> int:
    """Start the supervisor in a session of its own, so it outlives this command and its terminal.

    ``posix_spawn`` rather than ``Popen``: the supervisor is meant to outlive the object that
    would otherwise watch it.
    """
    argv = [
        sys.executable,
        "-m",
        "harness.stack.supervisor",
        "--state-dir",
        str(state_dir),
        "--config",
        str(config_file),
    ]
    return os.posix_spawn(
        sys.executable,
        argv,
        dict(os.environ),
        setsid=True,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
    )


def _exit_code(pid: int) -> int | None:
    """The exit code of our child ``pid`` once it has exited (and reaps it), else None."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (another shell started it), or already reaped
        return None if alive(pid) else 0
    return os.waitstatus_to_exitcode(status) if done else None


def _wait_ready(
    state: StateFile, supervisor: int, log_path: Path, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = state.read()
        if data is not None and data.get("status") == "ready":
            return data
        if data is not None and data.get("status") == "failed":
            _wait_exit(supervisor, DOWN_TIMEOUT)  # it stops what it started before exiting
            state.remove()
            raise HarnessError(str(data.get("error")))
        code = _exit_code(supervisor)
        if code is not None:
            state.remove()
            tail = " | ".join(log_tail(log_path, 3).splitlines())
            raise HarnessError(f"supervisor: exited with code {code}: {tail}")
        time.sleep(0.1)
    raise HarnessError(f"stack: not ready after {timeout:.0f} s (see {log_path})")


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _exit_code(pid) is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stop_supervisor(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        if not _wait_exit(pid, DOWN_TIMEOUT):
            os.kill(pid, signal.SIGKILL)  # its children get SIGTERM from the kernel (PDEATHSIG)
            _wait_exit(pid, 10)


def _balancer_line(data: dict[str, Any], config: StackConfig | None = None) -> str:
    balancer = str(data.get("balancer"))
    if balancer != "shared-socket":
        return balancer
    lb = config.lb if config else data.get("config", {}).get("lb")
    why = "asked for" if lb == "shared-socket" else "nginx is not on PATH"
    return (
        f"shared-socket ({why}): every replica accepts from one listening socket, "
        "the kernel spreads the connections"
    )


def _print_table(data: dict[str, Any], components: Sequence[ComponentStatus]) -> None:
    cwd = Path.cwd()
    rows = [("component", "pid/container", "port", "healthy", "log")]
    for c in components:
        log = ""
        if c.log is not None:
            log = str(c.log.relative_to(cwd)) if c.log.is_relative_to(cwd) else str(c.log)
        port = c.port or (_url_port(data) if c.name.startswith("api-") else None)
        rows.append(
            (
                c.name,
                str(c.pid or c.container or "-"),
                str(port or "-"),
                "yes" if c.healthy else "NO",
                log,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    print(
        f"mongodb: {redact(str(data.get('mongodb_uri')))}   "
        f"redis: {redact(str(data.get('redis_url'))) if data.get('redis_url') else 'off'}"
    )


def _url_port(data: dict[str, Any]) -> int | None:
    url = str(data.get("url", ""))
    with contextlib.suppress(ValueError):
        return int(url.rsplit(":", 1)[1])
    return None


# -- status ------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    state = StateFile(args.state_dir.resolve())
    data = _running_state(state)
    if data.get("status") != "ready":
        print(f"stack is {data.get('status')} (state {state.path})")
        return 1
    if data.get("backend") == "compose":
        from harness.stack.compose import ComposeStack

        config = StackConfig.from_json(data["config"])
        components = ComposeStack(config).components()
    else:
        components = recheck(data)
    if args.json:
        shown = {
            **data,
            "mongodb_uri": redact(str(data.get("mongodb_uri"))),
            "redis_url": redact(str(data["redis_url"])) if data.get("redis_url") else None,
            "components": [c.to_json() for c in components],
        }
        print(json.dumps(shown, indent=2))
    else:
        print(f"{data['url']}   balancer: {_balancer_line(data)}   backend: {data['backend']}")
        _print_table(data, components)
    healthy = all(c.healthy for c in components)
    if not healthy:
        sick = ", ".join(c.name for c in components if not c.healthy)
        print(f"unhealthy: {sick}")
    return 0 if healthy else 1


def _running_state(state: StateFile) -> dict[str, Any]:
    data = state.read()
    if data is None:
        raise HarnessError(f"no stack is running (no {state.path}); start one with `capacity up`")
    if not alive(data.get("supervisor_pid"), data.get("supervisor_identity")):
        state.remove()
        raise HarnessError(
            f"the stack's supervisor (pid {data.get('supervisor_pid')}) is gone; "
            f"removed the stale {state.path}"
        )
    return data


# -- down --------------------------------------------------------------------------------------


def cmd_down(args: argparse.Namespace) -> int:
    state = StateFile(args.state_dir.resolve())
    data = state.read()
    if data is None:
        print(f"no stack is running (no {state.path})")
        return 0
    began = time.monotonic()
    components = data.get("components", [])
    supervisor: tuple[int, float | None] = (
        int(data["supervisor_pid"]),
        data.get("supervisor_identity"),
    )
    processes = [supervisor] + [(int(c["pid"]), c.get("identity")) for c in components if c["pid"]]
    ports = {int(c["port"]) for c in components if c.get("port")}
    url_port = _url_port(data)
    if url_port:
        ports.add(url_port)
    if alive(*supervisor):
        os.kill(supervisor[0], signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    escalated = False
    while True:
        _exit_code(supervisor[0])  # reaps it when this process started it (tests, scripts)
        left = [pid for pid, ident in processes if alive(pid, ident)]
        busy = sorted(p for p in ports if not port_is_free(p))
        if not left and not busy:
            break
        if time.monotonic() > deadline:
            if escalated:
                raise HarnessError(
                    f"stack: still running after {args.timeout:.0f} s: pids {left}, ports {busy}"
                )
            escalated = True  # SIGKILL every process group left; their children die with them
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
        time.sleep(0.1)
    state.remove()
    print(
        f"stack down in {time.monotonic() - began:.1f} s: "
        f"{len(processes)} processes gone, ports {sorted(ports)} free"
    )
    return 0
