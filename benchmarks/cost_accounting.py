"""What measuring each request's costs costs (reference_api/costs.py), in microseconds of CPU.

    .venv/bin/python benchmarks/cost_accounting.py [--requests 20000] [--rounds 7] [--finds 2000]

1. The trampoline alone: a coroutine with ``--steps`` suspensions (``asyncio.sleep(0)``, as a
   request suspends on its Redis and MongoDB round trips), awaited directly or through
   ``on_cpu``, on uvloop.
2. The whole edge middleware, today's against the one at git ``HEAD`` (``--baseline``), around
   an ASGI app that suspends ``--steps`` times and answers 200: the trampoline, the request's
   record, the context variable and the per-route counters together.
3. PyMongo's command listener: client CPU per ``find_one`` against SecantusDB with and without
   ``RoundTrips`` (skipped with ``--finds 0``).

Every figure is the median over rounds of process CPU time (``time.process_time``), the two
variants alternating within each round, so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

from reference_api.costs import RequestCosts, RoundTrips, on_cpu
from reference_api.drain import Drain
from reference_api.logs import configure_logging
from reference_api.metrics import Metrics
from reference_api.middleware import EdgeMiddleware
from reference_api.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


async def suspending(steps: int) -> None:
    for _ in range(steps):
        await asyncio.sleep(0)


def per_call_us(run: Callable[[], Awaitable[None]], n: int) -> float:
    began = time.process_time()
    uvloop.run(run())
    return (time.process_time() - began) * 1e6 / n


def paired(
    a: Callable[[], Awaitable[None]], b: Callable[[], Awaitable[None]], n: int, rounds: int
) -> tuple[float, float, float]:
    """Median µs per call of ``a`` and of ``b``, and the median of the paired differences."""
    xs, ys = [], []
    for i in range(rounds):
        order = (a, b) if i % 2 == 0 else (b, a)
        first, second = (per_call_us(f, n) for f in order)
        x, y = (first, second) if i % 2 == 0 else (second, first)
        xs.append(x)
        ys.append(y)
    return (
        statistics.median(xs),
        statistics.median(ys),
        statistics.median(y - x for x, y in zip(xs, ys, strict=True)),
    )


def trampoline(n: int, steps: int, rounds: int) -> None:
    async def direct() -> None:
        for _ in range(n):
            await suspending(steps)

    async def metered() -> None:
        costs = RequestCosts()
        for _ in range(n):
            await on_cpu(suspending(steps), costs)

    plain, through, extra = paired(direct, metered, n, rounds)
    print(f"trampoline, {steps} suspensions: direct {plain:.2f} µs, through on_cpu "
          f"{through:.2f} µs: +{extra:.2f} µs per request")  # fmt: skip


def baseline_middleware() -> type[Any]:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", "HEAD:reference_api/middleware.py"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("baseline_middleware")
    exec(compile(source, "HEAD:reference_api/middleware.py", "exec"), module.__dict__)  # noqa: S102 - our own file at HEAD
    edge: type[Any] = module.EdgeMiddleware
    return edge


def middleware(n: int, steps: int, rounds: int) -> None:
    # the app's logging, at the level the scenarios run it (no line per request)
    listener = configure_logging(Settings(log_level="warning", replica_id="api-1"))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = types.SimpleNamespace(path="/api/tasks/{task_id}")
        await suspending(steps)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    def driver(edge_class: type[Any]) -> Callable[[], Awaitable[None]]:
        edge = edge_class(app, metrics=Metrics(), replica="api-1", max_body=65536, drain=Drain())

        async def run() -> None:
            for _ in range(n):
                scope = {"type": "http", "method": "GET", "headers": [], "path": "/api/tasks/x"}
                await edge(scope, receive, send)

        return run

    try:
        before, after, extra = paired(
            driver(baseline_middleware()), driver(EdgeMiddleware), n, rounds
        )
    finally:
        listener.stop()
    print(f"edge middleware, {steps} suspensions: HEAD {before:.2f} µs, with costs "
          f"{after:.2f} µs: {extra:+.2f} µs per request")  # fmt: skip


def listener(finds: int, rounds: int) -> None:
    from pymongo import AsyncMongoClient

    from harness.stack.processes import start_secantusd

    with tempfile.TemporaryDirectory() as work:
        db, uri = start_secantusd(Path(work))
        try:

            def driver(listeners: list[Any]) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                        uri, event_listeners=listeners
                    )
                    tasks = client.get_default_database("bench")["tasks"]
                    for i in range(finds):
                        await tasks.find_one({"i": i})
                    await client.close()

                return run

            without, with_, extra = paired(driver([]), driver([RoundTrips()]), finds, rounds)
        finally:
            db.stop()
    print(f"find_one client CPU (process): without listener {without:.1f} µs, with "
          f"{with_:.1f} µs: {extra:+.1f} µs per command")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--finds", type=int, default=2_000)
    args = parser.parse_args(argv)
    print(f"time.thread_time() per call: {thread_time_us():.3f} µs")
    trampoline(args.requests, args.steps, args.rounds)
    middleware(args.requests, args.steps, args.rounds)
    if args.finds:
        listener(args.finds, max(3, args.rounds // 2))
    return 0


def thread_time_us(n: int = 200_000) -> float:
    clock = time.thread_time
    began = time.perf_counter()
    for _ in range(n):
        clock()
    return (time.perf_counter() - began) * 1e6 / n


if __name__ == "__main__":
    sys.exit(main())
