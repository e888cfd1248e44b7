"""What exact recording (or Locust's cookie jar) costs the load generator: CPU per 1,000
requests/s, on vs off.

Method: one tiny HTTP server (asyncio + uvloop, canned answers for the few routes the scenario
user touches, so that the server is never the limit) and one single-process Locust running
``loadtests`` with an open-model scenario at a fixed arrival rate. Runs alternate recording on
and off (``--no-record-samples``; with ``--compare cookie-jar``: ``--cookie-jar`` or not),
same target, same rate. The generator's CPU time is read
with psutil at the end of the warm-up and at the end of the run; CPU % of one core over that
window divided by the rate (in thousands of requests/s) is the cost per 1,000 req/s.

    .venv/bin/python benchmarks/generator_cost.py [--rate 500] [--seconds 15] [--pairs 2]
        [--compare recording|cookie-jar]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]

_ANSWERS = {
    b"POST /api/auth/login": (200, b'{"access_token":"t","token_type":"bearer","expires_in":60}'),
    b"GET /health": (200, b'{"status":"ok"}'),
}


async def _serve(port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                method, path = head.split(b" ", 2)[:2]
                status, body = _ANSWERS.get(method + b" " + path.split(b"?")[0], (404, b"{}"))
                writer.write(
                    b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (status, len(body), body)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


# What "on" and "off" add to Locust's command line, per comparison.
_SWITCHES = {
    "recording": {"on": [], "off": ["--no-record-samples"]},
    "cookie-jar": {"on": ["--cookie-jar"], "off": []},
}

SCENARIO = """
name = "generator-cost"
[data]
users = 1
[load]
model = "open"
warmup = "{warmup}s"
max_users = 50
  [[load.stages]]
  duration = "{seconds}s"
  rate = {rate}
[mix]
"GET /health" = 1
"""


def _run(
    url: str, scenario: Path, out: Path, extra: list[str], warmup: float, seconds: float
) -> dict[str, float]:
    argv = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests"), "--headless",
        "--scenario", str(scenario), "-H", url, "--only-summary", "--json-file", str(out / "stats"),
        "--samples-dir", str(out / "samples"), "--loglevel", "WARNING",
    ]  # fmt: skip
    argv += extra
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    started = time.monotonic()
    # Locust needs ~1-2 s to import and start; the shape's clock starts then.
    time.sleep(2.0 + warmup)
    cpu_a, wall_a = sum(ps.cpu_times()[:2]), time.monotonic()
    time.sleep(max(1.0, seconds - warmup - 1.5))
    cpu_b, wall_b = sum(ps.cpu_times()[:2]), time.monotonic()
    proc.wait(timeout=60)
    stats = json.loads((out / "stats.json").read_text())
    requests = sum(entry["num_requests"] for entry in stats)
    return {
        "cpu_percent": 100.0 * (cpu_b - cpu_a) / (wall_b - wall_a),
        "requests": float(requests),
        "wall": time.monotonic() - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--compare", choices=sorted(_SWITCHES), default="recording")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        import uvloop

        uvloop.run(_serve(args.serve))
        return 0

    from harness.stack.processes import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    results: dict[str, list[float]] = {"on": [], "off": []}
    try:
        time.sleep(1.0)
        with tempfile.TemporaryDirectory() as tmp:
            scenario = Path(tmp) / "cost.toml"
            scenario.write_text(
                SCENARIO.format(rate=args.rate, seconds=args.seconds, warmup=args.warmup)
            )
            for i in range(args.pairs):
                for mode in ("on", "off") if i % 2 == 0 else ("off", "on"):
                    out = Path(tmp) / f"{mode}-{i}"
                    out.mkdir()
                    run = _run(
                        f"http://127.0.0.1:{port}", scenario, out,
                        _SWITCHES[args.compare][mode], args.warmup, args.seconds,
                    )  # fmt: skip
                    # requests of the whole stage, less the pool's logins
                    achieved = (run["requests"] - 50) / args.seconds
                    per_1k = run["cpu_percent"] / (args.rate / 1000.0)
                    valid = achieved >= 0.95 * args.rate
                    if valid:
                        results[mode].append(per_1k)
                    print(
                        f"{args.compare} {mode:3}: {run['cpu_percent']:5.1f} % of a core at "
                        f"{args.rate:g} req/s (achieved {achieved:.0f}) = {per_1k:5.1f} % per "
                        f"1,000 req/s{'' if valid else '  [INVALID: rate missed, excluded]'}",
                        flush=True,
                    )
    finally:
        server.terminate()
        server.wait(timeout=10)
    if not results["on"] or not results["off"]:
        print("no valid pair: the machine is too busy for this rate")
        return 1
    on, off = statistics.median(results["on"]), statistics.median(results["off"])
    spread = {m: (min(v), max(v)) for m, v in results.items()}
    print(
        f"median: {args.compare} on {on:.1f} % (range {spread['on'][0]:.1f}-"
        f"{spread['on'][1]:.1f}), off {off:.1f} % (range {spread['off'][0]:.1f}-"
        f"{spread['off'][1]:.1f}) of a core per 1,000 req/s; {args.compare} adds "
        f"{on - off:+.1f} points ({(on - off) / off:+.0%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
