"""What the rate limiter costs a cached read, side by side: the API at git revisions (or with
settings) of your choice, against one real redis-server on 127.0.0.1, in alternating rounds.

    .venv/bin/python benchmarks/ratelimit_cost.py \\
        --variant fixed-in-read=3cffddd \\
        --variant moving=.,RATE_LIMIT_STRATEGY=moving-window \\
        --variant sliding=.,RATE_LIMIT_STRATEGY=sliding-window-counter

A variant is ``NAME=REV[,SETTING=VALUE...]`` as in ``benchmarks/hot_path.py`` (``.`` is the
working tree). Each runs in a worker process of its own that imports that revision's
``reference_api`` (checked), builds the app with ``create_app()`` and its lifespan, and sends it
requests in-process (httpx's ASGI transport: no sockets, no uvicorn, the same app and
middleware). Every variant has a Redis database of its own on the one server; no database
server is needed, as every measured request is a cache HIT: ``GET /api/tasks/stats`` of
``--users`` users round robin, their entries stored once before the rounds.

Each round measures every variant in turn (the order flips every round) for ``--requests``
requests: the request's own CPU (the app's ``app_cpu_seconds_total``: its task's steps only),
the worker process's CPU (with the in-process client, alike for all), Redis round trips (the
app's ``redis_roundtrips_total``), Redis's own CPU (``INFO cpu``, before and after) and the
limiter's keys (``MEMORY USAGE`` of every key but the cache's, per user) after the round.
Printed: per variant the median over rounds, and the median (range) of the per-round ratios to
the first variant. ``--limit`` sets ``RATE_LIMIT_MAX`` for all (the default is what load runs
set, ``harness/core/scenario.py``'s LOAD_ENV; with 100, the production limit, most requests of
later rounds are refusals, and the table counts them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
import redis
import uvloop
from hot_path import Spec, export  # benchmarks/ is this script's directory
from prometheus_client.parser import text_string_to_metric_families

from harness.stack.processes import free_port, start_redis

SECRET = "benchmark-secret-" + "r" * 40
ROUTE = ("GET", "/api/tasks/stats")
METRICS = ("app_cpu_seconds_total", "redis_roundtrips_total", "http_requests_total")
COLUMNS = ("app_ms", "process_ms", "redis_ms", "redis_rt", "refused", "key_bytes_per_user")


@dataclass
class Worker:
    spec: Spec
    commit: str
    redis_url: str  # a database of its own
    proc: subprocess.Popen[str]
    samples: list[dict[str, float]] = field(default_factory=list)

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{self.spec.name}: the worker ended (see its log)")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def limiter_bytes(client: redis.Redis) -> int:
    """Memory of the keys that are not the cache's, in this database."""
    return sum(
        int(client.memory_usage(key) or 0)
        for key in client.scan_iter(count=1000)
        if not key.startswith(b"c1:")
    )


def start_worker(spec: Spec, redis_url: str, args: argparse.Namespace, work: Path) -> Worker:
    tree, commit = export(spec.rev, work / spec.name)
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "APP_ENV": "test",
        "JWT_SECRET": SECRET,
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "warning",
        "REPLICA_ID": spec.name,
        "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/primo",  # nothing there: HITs only
        "MONGODB_TIMEOUT_MS": "200",
        "REDIS_URL": redis_url,
        "RATE_LIMIT_MAX": str(args.limit),
        **spec.env,
    }
    log = (work / f"{spec.name}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(tree), str(args.users)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        cwd=tree,
        text=True,
    )
    worker = Worker(spec, commit, redis_url, proc)
    worker.ask({"ready": True})
    return worker


def measure(worker: Worker, direct: redis.Redis, requests: int, users: int) -> dict[str, float]:
    """One round of one variant; Redis's CPU is the server's, so variants run one at a time."""
    before = redis_cpu(direct)
    got = worker.ask({"requests": requests})
    redis_ms = 1000 * (redis_cpu(direct) - before)
    n = got["requests"]
    with redis.Redis.from_url(worker.redis_url) as own:
        key_bytes = limiter_bytes(own)
    return {
        "app_ms": 1000 * got["app_cpu_seconds_total"] / n,
        "process_ms": 1000 * got["process_cpu"] / n,
        "redis_ms": redis_ms / n,
        "redis_rt": got["redis_roundtrips_total"] / n,
        "refused": got["refused"] / n,
        "key_bytes_per_user": key_bytes / users,
    }


def report(workers: list[Worker]) -> None:
    first = workers[0]
    print(f"| variant | {' | '.join(COLUMNS)} | app_ms / {first.spec.name} |")
    print(f"|---|{'---|' * len(COLUMNS)}---|")
    for w in workers:
        medians = [statistics.median(s[c] for s in w.samples) for c in COLUMNS]
        ratios = [s["app_ms"] / f["app_ms"] for s, f in zip(w.samples, first.samples, strict=True)]
        ratio = f"x{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        cells = " | ".join(f"{m:.3f}" if m < 100 else f"{m:.0f}" for m in medians)
        print(f"| {w.spec.name} ({w.commit}) | {cells} | {ratio} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True, help="NAME=REV[,K=V...]")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=3000, help="per round and variant")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--limit", type=int, default=100_000_000, help="RATE_LIMIT_MAX")
    args = parser.parse_args(argv)
    by_name = {spec.name: spec for spec in map(Spec.parse, args.variant)}
    if len(by_name) < len(args.variant):
        raise SystemExit("--variant names must differ")
    workers: list[Worker] = []
    with tempfile.TemporaryDirectory(prefix="ratelimit-cost-") as tmp:
        redis_proc, url = start_redis(Path(tmp) / "redis")
        try:
            direct = redis.Redis.from_url(url)
            for db, spec in enumerate(by_name.values()):
                print(f"starting {spec.name} ({spec.rev})", file=sys.stderr, flush=True)
                own_db = f"{url.rsplit('/', 1)[0]}/{db}"
                workers.append(start_worker(spec, own_db, args, Path(tmp)))
            for round_ in range(args.rounds):
                order = workers if round_ % 2 == 0 else workers[::-1]
                for worker in order:
                    worker.samples.append(measure(worker, direct, args.requests, args.users))
                print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        finally:
            for worker in workers:
                worker.stop()
            redis_proc.stop()
    report(workers)
    return 0


# The worker: one variant's app, in this process.


async def counters(client: httpx.AsyncClient) -> dict[str, float]:
    """The measured route's cost counters, from the app's /metrics."""
    out = dict.fromkeys(METRICS, 0.0)
    for family in text_string_to_metric_families((await client.get("/metrics")).text):
        for s in family.samples:
            if s.name in out and (s.labels.get("method"), s.labels.get("route")) == ROUTE:
                out[s.name] += s.value
    return out


async def one_round(
    client: httpx.AsyncClient, headers: list[dict[str, str]], requests: int
) -> dict[str, float]:
    before, cpu = await counters(client), time.process_time()
    refused = 0
    for i in range(requests):
        answer = await client.get("/api/tasks/stats", headers=headers[i % len(headers)])
        if answer.status_code == 429:
            refused += 1
        elif answer.headers.get("x-cache") != "HIT":
            raise SystemExit(f"not a HIT: {answer.status_code} {answer.text[:200]}")
    cpu = time.process_time() - cpu
    after = await counters(client)
    result = {k: after[k] - before[k] for k in METRICS}
    result.update(requests=requests, process_cpu=cpu, refused=refused)
    return result


async def serve(users: int, replies: TextIO) -> None:
    from reference_api.cache import Entry
    from reference_api.main import create_app
    from reference_api.security import TokenIssuer

    app = create_app()
    ids = [f"{n:024x}" for n in range(1, users + 1)]
    tokens = TokenIssuer(SECRET, 86400)
    headers = [{"Authorization": f"Bearer {tokens.issue(uid)}"} for uid in ids]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client,
    ):
        cache = app.state.services.cache
        for uid in ids:  # every measured request is a HIT
            lookup = await cache.get(Entry.of_stats(uid))
            await cache.put(lookup, b'{"total":0,"byStatus":{},"byPriority":{},"overdue":0}')
        for line in sys.stdin:  # one command a line: {"ready": true} or {"requests": N}
            command = json.loads(line)
            result = (
                await one_round(client, headers, command["requests"])
                if "requests" in command
                else {"ready": True}
            )
            replies.write(json.dumps(result) + "\n")
            replies.flush()


def worker_main(tree: str, users: str) -> int:
    import reference_api

    if not Path(reference_api.__file__).resolve().is_relative_to(Path(tree).resolve()):
        raise SystemExit(f"imported {reference_api.__file__}, not the tree {tree}")
    # Replies go to the parent on the original stdout; the app's log lines go to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    uvloop.run(serve(int(users), replies))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        sys.exit(worker_main(sys.argv[2], sys.argv[3]))
    sys.exit(main())
