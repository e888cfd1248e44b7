"""``capacity`` into a closed pipe (``capacity status | head -3``): exit 141, and not a word.

Real processes: the closed pipe is the operating system's, and so is the exit code a shell sees.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness._pipes import ROOT, into_closed_pipe, python_env

# A command registered only here: ``capacity loud`` writes 4 MiB, far more than a pipe holds, so
# it is still writing when the reader goes away; ``capacity broken`` meets a closed socket.
STUB = """
import sys
from harness import cli

def register(sub):
    sub.add_parser("loud").set_defaults(func=loud)
    sub.add_parser("broken").set_defaults(func=broken)

def loud(args):
    for i in range(50_000):
        print(f"{i:08d}", "x" * 74)
    return 0

def broken(args):
    raise BrokenPipeError(32, "Broken pipe")  # what a send() to a server that hung up raises

cli._COMMANDS.update(loud="__main__", broken="__main__")
sys.exit(cli.main(sys.argv[1:]))
"""


def stub(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", STUB, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=python_env(),
    )


def test_a_reader_that_stops_after_one_line_ends_the_command_with_141_and_no_word() -> None:
    with stub("loud") as loud:
        assert loud.stdout is not None
        assert loud.stderr is not None

        first = loud.stdout.readline()
        loud.stdout.close()  # `| head -1`
        err = loud.stderr.read()
        code = loud.wait(timeout=60)

    assert first == b"00000000 " + b"x" * 74 + b"\n"
    assert code == 141
    assert err == b""


def test_a_reader_that_reads_everything_gets_everything_and_exit_0() -> None:
    with stub("loud") as loud:
        out, err = loud.communicate(timeout=60)

    assert loud.returncode == 0
    assert err == b""
    assert len(out.splitlines()) == 50_000


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
def test_a_short_output_into_a_pipe_closed_before_it_is_quiet_too(
    tmp_path: Path, buffered: bool
) -> None:
    # `capacity down` prints one line; buffered, Python writes it at the final flush
    down = into_closed_pipe(
        "-m", "harness.cli", "down", "--state-dir", str(tmp_path), buffered=buffered
    )

    assert down.returncode == 141
    assert down.stderr == ""


def test_help_into_a_closed_pipe_is_quiet() -> None:
    helped = into_closed_pipe("-m", "harness.cli", "--help")  # argparse exits with SystemExit

    assert helped.returncode == 141
    assert helped.stderr == ""


def test_a_broken_pipe_that_is_not_stdouts_is_not_swallowed() -> None:
    with stub("broken") as broken:
        _, err = broken.communicate(timeout=60)

    assert broken.returncode == 1
    assert b"Traceback" in err
    assert err.rstrip().endswith(b"BrokenPipeError: [Errno 32] Broken pipe")
