"""Replicas killed under streams of GETs: how many answers the client loses, and of which kind,
with each answer sent in one write (``reference_api.wire``) and with uvicorn's own httptools
protocol (header and body in two writes) side by side in one run.

Method: the compose stack with the offline images, 3 replicas capped at half a core each (the
cap is what widens the gap between uvicorn's two writes: a throttled replica can stop right
after the header). ``--streams`` threads send ``GET /health`` through nginx on 127.0.0.1, one
at a time each, kept alive. Each round waits for 100 answers, SIGKILLs one replica (in turn
api-1, api-2, api-3), waits for 100 more, starts it again (compose waits until it is healthy,
then nginx reloads to look the replica up again), for ``--kills`` rounds per protocol. Lost
answers are sorted by kind:

- ``cut``: a header arrived and the body did not (nginx had committed the answer of a replica
  that died mid-answer; proxy_next_upstream cannot retry it);
- ``closed``: the connection closed before any answer (a kept-alive client connection that
  nginx's old workers close after the reload, racing the client's next request);
- ``5xx`` and ``other``.

    .venv/bin/python benchmarks/replica_kills.py [--kills 20] [--streams 4]

Needs a Docker engine and ``capacity images build``. Bounded: ``--kills`` rounds, each with a
60-s hang guard; the stack is taken down at the end.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.stack.compose import ComposeStack  # noqa: E402
from harness.stack.config import StackConfig  # noqa: E402

PROTOCOLS = {"one write": "reference_api.wire:CoalescingHttpProtocol", "two writes": "httptools"}
HANG_S = 60.0


def kind(failure: str) -> str:
    if "expected" in failure and "received" in failure:
        return "cut"
    if "without sending a response" in failure:
        return "closed"
    if failure.isdigit() and failure.startswith("5"):
        return "5xx"
    return "other"


class Streams:
    """``n`` threads, each sending ``GET /health`` one at a time on a kept-alive connection."""

    def __init__(self, url: str, n: int) -> None:
        self.url = url
        self.lost: Counter[str] = Counter()
        self.answers = [0] * n
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._stream, args=(i,)) for i in range(n)]

    def _stream(self, i: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.done.is_set():
                try:
                    status = client.get("/health").status_code
                    if status != 200:
                        self.lost[kind(str(status))] += 1
                except httpx.HTTPError as exc:
                    self.lost[kind(repr(exc))] += 1
                self.answers[i] += 1

    def wait_for(self, more: int) -> None:
        target, deadline = sum(self.answers) + more, time.monotonic() + HANG_S
        while sum(self.answers) < target:
            if time.monotonic() > deadline:
                raise SystemExit("replica_kills: no answers for 60 s (a hang)")
            self.done.wait(0.02)

    def __enter__(self) -> Streams:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(HANG_S)


def rounds(protocol: str, kills: int, streams: int, work: Path) -> tuple[int, Counter[str]]:
    env = {"RATE_LIMIT_MAX": "100000000", "LOG_LEVEL": "WARNING", "DRAIN_SECONDS": "0"}
    project = f"primo-kills-{uuid.uuid4().hex[:6]}"
    stack = ComposeStack(
        StackConfig(
            replicas=3,
            backend="compose",
            images="offline",
            work_dir=work,
            compose_project=project,
            env={**env, "API_HTTP_PROTOCOL": protocol},
            cpus_per_replica=0.5,
        )
    )
    stack.up()
    try:
        if not stack.url.startswith(("http://127.0.0.1", "http://localhost")):
            raise SystemExit(f"replica_kills: the stack is at {stack.url}, not on loopback")
        with Streams(stack.url, streams) as load:
            for k in range(kills):
                name = f"api-{k % 3 + 1}"
                load.wait_for(100)
                stack.kill(name)
                load.wait_for(100)
                stack.start(name)
                print(f"  {k + 1}/{kills} {name} killed and back: {sum(load.answers)} GETs, "
                      f"lost {dict(load.lost) or 0}", flush=True)  # fmt: skip
    finally:
        stack.down()
    return sum(load.answers), load.lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--streams", type=int, default=4)
    args = parser.parse_args()
    results = {}
    for label, protocol in PROTOCOLS.items():
        print(f"{label} ({protocol}): {args.kills} kills under {args.streams} streams", flush=True)
        work = ROOT / ".capacity" / "bench" / f"kills-{label.replace(' ', '-')}"
        results[label] = rounds(protocol, args.kills, args.streams, work)
    print("\n| answers sent as | kills | GETs | cut | closed | 5xx | other |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, (total, lost) in results.items():
        print(f"| {label} | {args.kills} | {total} | {lost['cut']} | {lost['closed']} | "
              f"{lost['5xx']} | {lost['other']} |")  # fmt: skip


if __name__ == "__main__":
    main()
