"""Reproduce SecantusDB's lock/WiredTiger stall, and measure the fix side by side.

    .venv/bin/python benchmarks/secantus_stall.py --compare --connections 50 --repeat 3
    .venv/bin/python benchmarks/secantus_stall.py --no-fix --connections 50 --diagnose
    .venv/bin/python benchmarks/secantus_stall.py --compare --connections 1,2,4,8 --seconds 45
    .venv/bin/python benchmarks/secantus_stall.py --connections 4 --seconds 180 \\
        --variants stock,stock+noretry,launcher,launcher+noretry        # the slow decay

Each run starts its own ``secantusd-py`` on 127.0.0.1 (free port, temporary data directory),
seeds a ``tasks`` collection shaped like the API's (--users x --tasks documents, the API's three
compound indexes), then drives the API's per-user operation mix (indexed list queries with
sort+limit, the regex-search aggregate, find_one by _id+user, insert_one, update_one+find_one,
delete_one, the stats aggregate + count) from K client threads sharing one PyMongo client with
maxPoolSize=K, i.e. K server connection threads. It prints ops/s and the db's CPU per window. A
STALL is --stall-seconds in which no operation completed, or fewer than 10 % of the run's healthy
median rate did, while operations were outstanding (the stock server falls to a few ops/s at
~5-10 % CPU rather than to zero). --diagnose saves ``py-spy dump`` and ``gdb thread apply all
bt`` of a stalled server and prints where its threads are.

Variants: ``stock`` runs ``secantusd-py``; ``launcher`` runs --launcher (default
``harness/stack/secantus_launcher.py``: the same CLI with SecantusDB patched at start-up);
``+noretry`` adds ``retryWrites=false`` to the client URI. The variants of one repetition run one
after the other, so their ratios are side by side. Every process gets its own process group and
is killed at the end of its run; a watchdog kills a run that overstays --seconds + 105 s.

Exit status: 1 when a ``launcher`` run stalled (it is expected never to), 0 otherwise (a stock
stall is the expected, reported outcome).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SECANTUSD = BIN / "secantusd-py"
LAUNCHER = REPO / "harness" / "stack" / "secantus_launcher.py"
GRACE_S = 105.0  # per run, beyond --seconds: start-up, seeding, draining, diagnosis

WORDS = ["report", "budget", "invoice", "roadmap", "release", "backlog", "meeting", "design"]
STATUSES = (("todo", 5), ("in-progress", 3), ("done", 2))
PRIORITIES = (("low", 3), ("medium", 5), ("high", 2))
NEWEST_FIRST = [("createdAt", DESCENDING), ("_id", DESCENDING)]
Doc = dict[str, Any]
Tasks = Collection[Doc]


def pick(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([o for o, _ in options], [w for _, w in options])[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- server ----


class Server:
    """One secantusd-py (or launcher) process on 127.0.0.1 with its own temporary data dir."""

    def __init__(self, variant: str, workdir: Path, launcher: Path) -> None:
        self.port = free_port()
        data = workdir / "db-data"
        data.mkdir(parents=True)
        self.log_path = workdir / "server.log"
        args = ["--host", "127.0.0.1", "--port", str(self.port), "--storage-path", str(data)]
        args += ["--log-level", "WARNING"]
        if variant.startswith("launcher"):
            argv = [sys.executable, str(launcher), *args]
        else:
            argv = [str(SECANTUSD), *args]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=workdir,
        )
        self.pid = self.proc.pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            time.sleep(0.1)
        self.kill()
        raise SystemExit("server did not listen within 30 s")

    def cpu_seconds(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._log.close()


def diagnose(server: Server, out_dir: Path) -> Path:
    """py-spy + gdb stacks of the (stalled) server, each bounded to 60 s."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pyspy = shutil.which("py-spy") or str(BIN / "py-spy")
    cmds = {
        "py-spy.txt": [pyspy, "dump", "--pid", str(server.pid)],
        "gdb.txt": ["gdb", "-p", str(server.pid), "-batch", "-ex", "thread apply all bt"],
    }
    for name, cmd in cmds.items():
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
            (out_dir / name).write_text(done.stdout + done.stderr)
        except (OSError, subprocess.TimeoutExpired) as exc:
            (out_dir / name).write_text(f"{cmd}: {exc}\n")
    return out_dir


def summarize_stacks(out_dir: Path) -> str:
    """Innermost secantus frame of each py-spy thread; WiredTiger frames in gdb's stacks."""
    lines = []
    spy = (out_dir / "py-spy.txt").read_text() if (out_dir / "py-spy.txt").is_file() else ""
    where: dict[str, int] = {}
    for t in re.split(r"\n(?=Thread )", spy)[1:]:
        m = re.search(r"^\s+([\w.<>]+) \(secantus/(\w+\.py):(\d+)\)", t, re.M)
        if m:
            key = f"{m.group(1)} ({m.group(2)}:{m.group(3)})"
            where[key] = where.get(key, 0) + 1
    for k, v in sorted(where.items(), key=lambda kv: -kv[1])[:8]:
        lines.append(f"      py-spy: {v:3d} thread(s) in {k}")
    gdb = (out_dir / "gdb.txt").read_text() if (out_dir / "gdb.txt").is_file() else ""
    for fn in ("__wt_sleep", "__wt_page_in_func", "__wt_btcur_search", "rlock_acquire"):
        n = len(re.findall(rf"\b{fn}\b", gdb))
        if n:
            lines.append(f"      gdb: {n:3d} thread(s) with {fn} on the stack")
    return "\n".join(lines)


# ------------------------------------------------------------------ data ----


def new_task(rng: random.Random, owner: ObjectId, created: datetime) -> Doc:
    a, b, c = rng.sample(WORDS, 3)
    created = created.replace(microsecond=created.microsecond // 1000 * 1000)
    return {
        "_id": ObjectId(),
        "user": owner,
        "title": f"Review {a} {b}",
        "description": f"Notes about the {b} for the {c} ({rng.randint(1, 999)}).",
        "status": pick(rng, STATUSES),
        "priority": pick(rng, PRIORITIES),
        "dueDate": created + timedelta(days=rng.randint(-30, 60)),
        "tags": rng.sample(["home", "work", "urgent", "later"], rng.randint(0, 2)),
        "createdAt": created,
        "updatedAt": created,
    }


def seed(uri: str, users: int, per_user: int, rng: random.Random) -> dict[ObjectId, list[ObjectId]]:
    """The tasks collection (bulk insert, then the API's indexes); task ids per user."""
    client: MongoClient[Doc] = MongoClient(uri, serverSelectionTimeoutMS=20000)
    try:
        tasks = client["primo"]["tasks"]
        now = datetime.now(UTC)
        owners: dict[ObjectId, list[ObjectId]] = {ObjectId(): [] for _ in range(users)}
        batch: list[Doc] = []
        for owner, ids in owners.items():
            for _ in range(per_user):
                doc = new_task(rng, owner, now - timedelta(seconds=rng.randint(3600, 90 * 86400)))
                ids.append(doc["_id"])
                batch.append(doc)
            if len(batch) >= 2000:
                tasks.insert_many(batch, ordered=False)
                batch = []
        if batch:
            tasks.insert_many(batch, ordered=False)
        tasks.create_index([("user", ASCENDING), ("status", ASCENDING)])
        tasks.create_index([("user", ASCENDING), ("createdAt", DESCENDING)])
        tasks.create_index([("user", ASCENDING), ("priority", ASCENDING)])
        return owners
    finally:
        client.close()


class Owners:
    """The known task ids per user, shared by the workers."""

    def __init__(self, owners: dict[ObjectId, list[ObjectId]]) -> None:
        self.users = list(owners)
        self.ids = owners
        self.lock = threading.Lock()

    def any_task(self, rng: random.Random, user: ObjectId) -> ObjectId | None:
        with self.lock:
            ids = self.ids[user]
            return rng.choice(ids) if ids else None

    def add(self, user: ObjectId, oid: ObjectId) -> None:
        with self.lock:
            self.ids[user].append(oid)

    def take(self, rng: random.Random, user: ObjectId) -> ObjectId | None:
        with self.lock:
            ids = self.ids[user]
            return ids.pop(rng.randrange(len(ids))) if len(ids) > 5 else None


# ---------------------------------------------------- the API's operations ----

Op = Callable[[Tasks, Owners, random.Random, ObjectId], None]


def list_created(tasks: Tasks, owners: Owners, rng: random.Random, user: ObjectId) -> None:
    tasks.find({"user": user}).sort(NEWEST_FIRST).limit(21).to_list()


def list_status(tasks: Tasks, owners: Owners, rng: random.Random, user: ObjectId) -> None:
    flt = {"user": user, "status": pick(rng, STATUSES)}
    tasks.find(flt).sort(NEWEST_FIRST).limit(21).to_list()


def list_priority(tasks: Tasks, owners: Owners, rng: random.Random, user: ObjectId) -> None:
    flt = {"user": user, "priority": pick(rng, PRIORITIES)}
    tasks.find(flt).sort([("_id", ASCENDING)]).limit(21).to_list()


def search(tasks: Tasks, owners: Owners, rng: random.Random, user: ObjectId) -> None:
    word = re.escape(rng.choice(WORDS))
    fields = ("title", "description")
    regex = {"$or": [{f: {"$regex": word, "$options": "i"}} for f in fields]}
    pipeline: list[Doc] = [{"$match": {"user": user}}, {"$match": regex}]
    pipeline += [{"$sort": dict(NEWEST_FIRST)}, {"$limit": 21}]
    tasks.aggregate(pipeline).to_list()


def get(tasks: Tasks, owners: Owners, rng: random.Random, user: ObjectId) -> None:
    oid = owners.any_task(rng, user)
    if oid is not None:
        tasks.find_one({"_id": oid, "user": user})


def create(tasks: Tasks, owners: Owners, rng: random.Random, user: ObjectId) -> None:
    doc = new_task(rng, user, datetime.now(UTC))
    tasks.insert_one(doc)
    owners.add(user, doc["_id"])


def update(tasks: Tasks, owners: Owners, rng: random.Random, user: ObjectId) -> None:
    oid = owners.any_task(rng, user)
    if oid is not None:
        change = {"status": pick(rng, STATUSES), "updatedAt": datetime.now(UTC)}
        tasks.update_one({"_id": oid, "user": user}, {"$set": change})
        tasks.find_one({"_id": oid, "user": user})


def delete(tasks: Tasks, owners: Owners, rng: random.Random, user: ObjectId) -> None:
    oid = owners.take(rng, user)
    if oid is not None:
        tasks.delete_one({"_id": oid, "user": user})


def stats(tasks: Tasks, owners: Owners, rng: random.Random, user: ObjectId) -> None:
    group = {"_id": {"s": "$status", "p": "$priority"}, "n": {"$sum": 1}}
    tasks.aggregate([{"$match": {"user": user}}, {"$group": group}]).to_list()
    now = datetime.now(UTC)
    tasks.count_documents({"user": user, "dueDate": {"$lt": now}, "status": {"$ne": "done"}})


# (operation, weight): roughly the demo mix.
MIX: tuple[tuple[Op, int], ...] = (
    (list_created, 25),
    (list_status, 12),
    (list_priority, 8),
    (search, 5),
    (get, 18),
    (create, 10),
    (update, 10),
    (delete, 5),
    (stats, 7),
)


# ------------------------------------------------------------------- runs ----


@dataclass
class Result:
    variant: str
    connections: int
    seconds: float
    windows: list[tuple[float, float]] = field(default_factory=list)  # (ops/s, db cpu %)
    ops: int = 0
    errors: int = 0
    stalls: list[tuple[float, float]] = field(default_factory=list)  # (start s, length s)
    diag: str = ""
    first_error: str = ""

    @property
    def stalled(self) -> bool:
        return bool(self.stalls)

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_op(self) -> float:
        """The db process's CPU (user + system) per completed operation, over the windows."""
        ops_per_s = sum(r for r, _ in self.windows)
        return 10.0 * sum(c for _, c in self.windows) / ops_per_s if ops_per_s else float("nan")

    def trend(self, span: int = 6) -> float:
        """Last ``span`` windows' mean over the first ``span`` after the first (warm-up)."""
        rates = [r for r, _ in self.windows]
        if len(rates) < 2 * span + 1:
            return float("nan")
        first = sum(rates[1 : 1 + span]) / span
        return sum(rates[-span:]) / span / first if first else float("nan")


class LoadRun:
    """One server, one seeded collection, K workers for --seconds; always cleans up."""

    def __init__(self, variant: str, k: int, args: argparse.Namespace, run_no: int) -> None:
        self.variant, self.k, self.args, self.run_no = variant, k, args, run_no
        self.res = Result(variant, k, float(args.seconds))
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.inflight = [0.0] * k
        self.counts = [0] * (int(args.seconds // args.window) + 1)
        self.per_second = [0] * (int(args.seconds) + 2)
        self.last_done = time.monotonic()
        self.start = time.monotonic()
        self.stall_start: float | None = None

    def run(self) -> Result:
        workdir = Path(tempfile.mkdtemp(prefix="secantus-stall-"))
        server: Server | None = None
        client: MongoClient[Doc] | None = None
        done = threading.Event()
        budget = self.args.seconds + GRACE_S

        def watchdog() -> None:  # the run ends, whatever happens
            if not done.wait(budget) and server is not None:
                print("  watchdog: run exceeded its time budget, killing the server", flush=True)
                server.kill()

        threading.Thread(target=watchdog, daemon=True).start()
        try:
            server = Server(self.variant, workdir, self.args.launcher)
            retry = "false" if "noretry" in self.variant else "true"
            uri = (
                f"mongodb://127.0.0.1:{server.port}/primo?directConnection=true&retryWrites={retry}"
            )
            began = time.monotonic()
            rng = random.Random(self.args.seed + self.run_no)  # noqa: S311 - test data
            owners = Owners(seed(uri, self.args.users, self.args.tasks, rng))
            print(
                f"  [{self.variant} K={self.k}] db pid {server.pid}, seeded "
                f"{self.args.users}x{self.args.tasks} in {time.monotonic() - began:.1f} s",
                flush=True,
            )
            timeout_ms = int((self.args.seconds + 30) * 1000)
            client = MongoClient(
                uri,
                maxPoolSize=self.k,
                minPoolSize=self.k,
                socketTimeoutMS=timeout_ms,
                serverSelectionTimeoutMS=2000,  # close() after the kill gives up at once
            )
            self._drive(server, client["primo"]["tasks"], owners)
            return self.res
        finally:
            done.set()
            if server is not None:
                server.kill()
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            if self.args.keep:
                print(f"  kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)

    def _drive(self, server: Server, tasks: Tasks, owners: Owners) -> None:
        threads = [
            threading.Thread(target=self._worker, args=(i, tasks, owners), daemon=True)
            for i in range(self.k)
        ]
        self.start = self.last_done = time.monotonic()
        for t in threads:
            t.start()
        cpu = [server.cpu_seconds()]
        next_mark = self.start + self.args.window
        while True:
            now = time.monotonic()
            if now >= next_mark:
                cpu.append(server.cpu_seconds())
                self._report_window(len(cpu) - 2, 100.0 * (cpu[-1] - cpu[-2]) / self.args.window)
                next_mark += self.args.window
            if now - self.start >= self.args.seconds + 0.05:
                break
            self._check_stall(now, server)
            time.sleep(0.1)
        self.stop.set()
        if self.stall_start is not None:
            self.res.stalls.append((self.stall_start, self.args.seconds - self.stall_start))
        deadline = time.monotonic() + 10
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in threads):  # stuck in the server: ending it frees them
            server.kill()
            for t in threads:
                t.join(5)
        self.res.ops = sum(self.counts)

    def _worker(self, i: int, tasks: Tasks, owners: Owners) -> None:
        rng = random.Random(self.args.seed * 1000 + self.run_no * 100 + i)  # noqa: S311
        ops, weights = [o for o, _ in MIX], [w for _, w in MIX]
        while not self.stop.is_set():
            op = rng.choices(ops, weights)[0]
            self.inflight[i] = time.monotonic()
            try:
                op(tasks, owners, rng, rng.choice(owners.users))
                ok = True
            except PyMongoError as exc:
                ok = False
                with self.lock:
                    self.res.errors += 1
                    self.res.first_error = self.res.first_error or f"{op.__name__}: {exc}"[:200]
                self.stop.wait(0.05)
            finally:
                self.inflight[i] = 0.0
            self._record(ok, time.monotonic())

    def _record(self, ok: bool, now: float) -> None:
        with self.lock:
            self.last_done = now
            if not ok:
                return
            w, s = int((now - self.start) // self.args.window), int(now - self.start)
            if w < len(self.counts):
                self.counts[w] += 1
            if s < len(self.per_second):
                self.per_second[s] += 1

    def _report_window(self, w: int, cpu: float) -> None:
        rate = self.counts[w] / self.args.window
        self.res.windows.append((rate, cpu))
        flag = "  STALLED" if self.stall_start is not None else ""
        t = (w + 1) * self.args.window
        print(f"    t={t:5.0f}s  {rate:7.1f} ops/s  db cpu {cpu:5.1f}%{flag}", flush=True)

    def _baseline(self) -> float | None:
        """Median rate of the windows that ended before the current stall, if any."""
        end = len(self.res.windows)
        if self.stall_start is not None:
            end = int(self.stall_start // self.args.window)
        healthy = sorted(r for r, _ in self.res.windows[:end])
        return healthy[len(healthy) // 2] if healthy else None

    def _rate(self, sec: int, span: int) -> float | None:
        return sum(self.per_second[sec - span : sec]) / span if sec >= span else None

    def _check_stall(self, now: float, server: Server) -> None:
        baseline, sec, span = self._baseline(), int(now - self.start), int(self.args.stall_seconds)
        with self.lock:
            quiet = now - self.last_done
            outstanding = any(self.inflight)
            trailing, recent = self._rate(sec, span), self._rate(sec, 2)
        slow = baseline is not None and trailing is not None and trailing < 0.1 * baseline
        if self.stall_start is None and outstanding and (quiet >= span or slow):
            self.stall_start = max(0.0, now - self.start - span)
            print(
                f"    STALL at t~{self.stall_start:.0f}s: {trailing or 0:.1f} ops/s over the last "
                f"{span} s (healthy median {baseline or 0:.0f}), last op done {quiet:.1f} s ago",
                flush=True,
            )
            if self.args.diagnose and not self.res.diag:
                name = f"{self.variant}-K{self.k}-run{self.run_no}"
                self.res.diag = str(diagnose(server, self.args.diag_dir / name))
                print(f"      stacks in {self.res.diag}", flush=True)
                print(summarize_stacks(Path(self.res.diag)), flush=True)
        elif self.stall_start is not None and quiet < 1.0 and _recovered(baseline, recent):
            length = now - self.start - self.stall_start
            self.res.stalls.append((self.stall_start, length))
            print(f"    stall ended at t={now - self.start:.0f}s after {length:.0f} s", flush=True)
            self.stall_start = None


def _recovered(baseline: float | None, recent: float | None) -> bool:
    return baseline is None or (recent is not None and recent >= 0.5 * baseline)


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\nsummary: ops/s per {args.window:.0f}-s window; stall = {args.stall_seconds:.0f} s with "
        "no op done, or under 10 % of the run's healthy median, while ops were outstanding; "
        "trend = mean of the last 6 windows / mean of windows 2-7; db-ms/op = db CPU per op"
    )
    for r in results:
        wins = " ".join(f"{w:.0f}" for w, _ in r.windows)
        stall = ", ".join(f"{s:.0f}s+{d:.0f}s" for s, d in r.stalls) or "none"
        print(
            f"  {r.variant:16s} K={r.connections:<3d} {r.rate:6.1f} ops/s {r.cpu_ms_per_op:5.2f} "
            f"db-ms/op trend {r.trend():4.2f} errors {r.errors:<3d} stall: {stall:14s} [{wins}]"
        )
        if r.first_error:
            print(f"      first error: {r.first_error}")
    groups: dict[tuple[str, int], list[Result]] = {}
    for r in results:
        groups.setdefault((r.variant, r.connections), []).append(r)
    print("\nper configuration:")
    for (v, k), rs in groups.items():
        stalled = sum(r.stalled for r in rs)
        mean = sum(r.rate for r in rs) / len(rs)
        cost = sum(r.cpu_ms_per_op for r in rs) / len(rs)
        base = groups.get(("stock" + v.removeprefix("launcher"), k)) if v.startswith("l") else None
        vs = f", x{mean / (sum(r.rate for r in base) / len(base)):.2f} of stock" if base else ""
        print(
            f"  {v:16s} K={k:<3d} stalled in {stalled}/{len(rs)} runs; mean {mean:6.1f} ops/s"
            f"{vs}; db {cost:.2f} ms CPU/op"
        )


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--connections", default="8", help="comma list of K (default 8)")
    p.add_argument("--seconds", type=float, default=60.0, help="load per run (default 60)")
    p.add_argument("--window", type=float, default=5.0, help="report window, s")
    p.add_argument("--stall-seconds", type=float, default=5.0)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--fix", dest="variants", action="store_const", const="launcher")
    g.add_argument("--no-fix", dest="variants", action="store_const", const="stock")
    g.add_argument("--compare", dest="variants", action="store_const", const="stock,launcher")
    g.add_argument("--variants", help="comma list of stock|launcher, each optionally +noretry")
    p.add_argument("--launcher", type=Path, default=LAUNCHER, help="default: %(default)s")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--tasks", type=int, default=50, help="tasks per user")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--diagnose", action="store_true", help="py-spy + gdb dumps on a stall")
    p.add_argument("--diag-dir", type=Path, default=Path(tempfile.gettempdir()) / "secantus-stall")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args()
    variants = (args.variants or "stock").split(",")
    results: list[Result] = []
    for rep in range(args.repeat):
        for k in [int(c) for c in args.connections.split(",")]:
            for v in variants:
                print(f"run {rep + 1}/{args.repeat}: {v}, {k} connection(s), {args.seconds:.0f} s")
                results.append(LoadRun(v, k, args, rep * 100 + k).run())
    report(results, args)
    if args.json:
        rows = [r.__dict__ | {"stalled": r.stalled, "rate": r.rate} for r in results]
        args.json.write_text(json.dumps(rows, indent=1))
    bad = [r for r in results if r.variant.startswith("launcher") and r.stalled]
    if bad:
        print(f"\nFAIL: {len(bad)} launcher run(s) stalled")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
