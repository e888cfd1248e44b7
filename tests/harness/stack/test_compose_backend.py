"""``ComposeStack`` drives ``docker compose`` with the commands a person would type.

No Docker engine runs here: a recording stand-in for ``docker`` goes first on PATH.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ComponentError
from harness.stack import ComposeStack, StackConfig
from harness.stack.compose import COMPOSE_FILE, container_number, parse_ps

PS_ROWS = [
    {
        "Name": "primo-capacity-mongodb-1",
        "Service": "mongodb",
        "Number": 1,
        "State": "running",
        "Health": "healthy",
        "Publishers": [{"TargetPort": 27017, "PublishedPort": 27017}],
    },
    {
        "Name": "primo-capacity-redis-1",
        "Service": "redis",
        "Number": 1,
        "State": "running",
        "Health": "healthy",
        "Publishers": [],
    },
    *(
        {
            "Name": f"primo-capacity-api-{n}",
            "Service": "api",
            "Number": n,
            "State": "running",
            "Health": "starting" if n == 3 else "healthy",
            "Publishers": None,
        }
        for n in (1, 2, 3)
    ),
    {
        "Name": "primo-capacity-nginx-1",
        "Service": "nginx",
        "Number": 1,
        "State": "running",
        "Health": "healthy",
        "Publishers": [{"TargetPort": 80, "PublishedPort": 18080}],
    },
]

STAND_IN = f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["DOCKER_RECORD"], "a") as fh:
    fh.write(json.dumps(args) + "\\n")
if args[:1] == ["info"] and os.environ.get("DOCKER_NO_ENGINE"):
    print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock.", file=sys.stderr)
    sys.exit(1)
if "ps" in args:
    for row in {PS_ROWS!r}:
        print(json.dumps(row))
if args[:1] == ["logs"]:
    print("a line of " + args[-1])
"""


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the stand-in first on PATH; return the file it records its argv lists in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(STAND_IN)
    docker.chmod(0o755)
    record = tmp_path / "docker-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("DOCKER_RECORD", str(record))
    return record


def calls(record: Path) -> list[list[str]]:
    """What the stack ran, without ``--images auto``'s look for the official images (the
    stand-in has them all: the official set runs)."""
    made = [json.loads(line) for line in record.read_text().splitlines()]
    return [argv for argv in made if argv[:2] != ["image", "inspect"]]


def compose_prefix(stack: ComposeStack) -> list[str]:
    return [
        "compose",
        "-f",
        str(COMPOSE_FILE),
        "-p",
        "primo-capacity",
        "--env-file",
        str(stack.work_dir / "compose.env"),
    ]


def test_up_checks_the_engine_then_starts_n_replicas_and_waits(
    recorded: Path, tmp_path: Path
) -> None:
    stack = ComposeStack(StackConfig(replicas=3, backend="compose", work_dir=tmp_path / "w"))

    stack.up()

    made = calls(recorded)
    assert made[0][0] == "info"
    assert made[1] == ["compose", "version"]
    assert made[2] == [*compose_prefix(stack), "up", "-d", "--wait", "--build", "--scale", "api=3"]
    assert stack.url == f"http://127.0.0.1:{stack.port}"


def test_the_env_file_carries_the_secret_and_turns_the_cache_off(
    recorded: Path, tmp_path: Path
) -> None:
    config = StackConfig(
        cache=False,
        backend="compose",
        work_dir=tmp_path / "w",
        env={"RATE_LIMIT_MAX": "1000000"},
        lb_rate_limit=5000,
    )
    stack = ComposeStack(config)

    stack.up()

    env_file = stack.work_dir / "compose.env"
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert values["JWT_SECRET"] == config.jwt_secret
    assert env_file.stat().st_mode & 0o077 == 0
    assert values["REDIS_URL"] == ""
    assert values["CACHE_ENABLED"] == "false"
    assert values["RATE_LIMIT_MAX"] == "1000000"
    assert values["CAPACITY_NGINX_PORT"] == str(stack.port)
    assert "rate=5000r/s" in Path(values["CAPACITY_NGINX_CONF"]).read_text()
    assert stack.redis_url is None


def test_components_are_named_like_the_local_ones(recorded: Path, tmp_path: Path) -> None:
    stack = ComposeStack(StackConfig(replicas=3, backend="compose", work_dir=tmp_path / "w"))
    stack.up()

    components = {c.name: c for c in stack.components()}

    assert list(components) == ["db", "redis", "api-1", "api-2", "api-3", "nginx"]
    assert components["api-2"].container == "primo-capacity-api-2"
    assert components["api-2"].healthy
    assert not components["api-3"].healthy  # still starting
    assert components["nginx"].port == 18080
    assert [*compose_prefix(stack), "ps", "--all", "--format", "json"] in calls(recorded)


def test_fault_hooks_act_on_one_container(recorded: Path, tmp_path: Path) -> None:
    stack = ComposeStack(StackConfig(replicas=3, backend="compose", work_dir=tmp_path / "w"))
    stack.up()

    stack.kill("api-2")
    stack.restart("redis")
    with pytest.raises(ComponentError, match=r"^api-9: no such component"):
        stack.kill("api-9")

    made = calls(recorded)
    assert ["kill", "primo-capacity-api-2"] in made
    assert ["restart", "primo-capacity-redis-1"] in made


def test_pause_and_resume_freeze_one_container(recorded: Path, tmp_path: Path) -> None:
    stack = ComposeStack(StackConfig(replicas=3, backend="compose", work_dir=tmp_path / "w"))
    stack.up()

    stack.pause("db")
    stack.resume("db")
    with pytest.raises(ComponentError, match=r"^api-9: no such component"):
        stack.pause("api-9")

    docker = [c for c in calls(recorded) if c[0] in ("pause", "unpause")]
    assert docker == [
        ["pause", "primo-capacity-mongodb-1"],
        ["unpause", "primo-capacity-mongodb-1"],
    ]


def test_down_keeps_every_log_then_removes_the_project(recorded: Path, tmp_path: Path) -> None:
    stack = ComposeStack(StackConfig(replicas=3, backend="compose", work_dir=tmp_path / "w"))
    stack.up()

    stack.down()

    assert calls(recorded)[-1] == [
        *compose_prefix(stack),
        "down",
        "-v",
        "--remove-orphans",
        "--timeout",
        "15",
    ]
    log = stack.work_dir / "logs" / "api-3.log"
    assert log.read_text().strip() == "a line of primo-capacity-api-3"


def test_no_engine_is_one_line_naming_docker(
    recorded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_NO_ENGINE", "1")

    with pytest.raises(ComponentError) as caught:
        ComposeStack(StackConfig(backend="compose", work_dir=tmp_path / "w")).up()

    assert str(caught.value) == (
        "docker: no Docker engine answers: "
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    )
    assert [c[0] for c in calls(recorded)] == ["info"]


def test_the_real_docker_client_without_an_engine_is_a_component_error(tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker client on PATH")
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    if probe.returncode == 0:
        pytest.skip("a Docker engine answers here")

    with pytest.raises(ComponentError, match=r"^docker: no Docker engine answers"):
        ComposeStack(StackConfig(backend="compose", work_dir=tmp_path / "w")).up()


def test_ps_output_is_read_in_both_of_its_formats() -> None:
    rows = [{"Service": "api", "Number": 1}, {"Service": "api", "Number": 2}]

    assert parse_ps("\n".join(json.dumps(r) for r in rows)) == rows  # compose 2.21+
    assert parse_ps(json.dumps(rows)) == rows  # older compose
    assert parse_ps("") == []


def test_an_engine_that_refuses_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real client, pointed at a socket nobody listens on: what `capacity up` prints."""
    if shutil.which("docker") is None:
        pytest.skip("no docker client on PATH")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nobody.sock")
    with pytest.raises(ComponentError, match=r"^docker: no Docker engine answers") as caught:
        ComposeStack(StackConfig(backend="compose", work_dir=tmp_path / "w")).up()
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "w" / "compose.env").exists()


def test_compose_2_40_rows_number_replicas_by_their_label() -> None:
    row = {
        "Service": "api",
        "Name": "p-api-3",
        "Labels": "com.docker.compose.project.config_files=/a.yaml,/b.yaml,"
        "com.docker.compose.container-number=2,com.docker.compose.service=api",
    }
    assert container_number(row) == 2
    assert container_number({"Name": "p-api-3"}) == 3
    assert container_number({"Number": 4, "Name": "p-api-3"}) == 4
