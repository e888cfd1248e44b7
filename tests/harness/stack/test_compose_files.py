"""``compose/`` parses and defines the production-like stack the design asks for."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "compose"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"])


def test_compose_defines_the_stack_services(services: dict[str, Any]) -> None:
    assert set(services) == {"mongodb", "redis", "api", "nginx", "locust-master", "locust-worker"}


def test_every_stack_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name in ("mongodb", "redis", "api", "nginx"):
        assert services[name]["healthcheck"]["test"], name


def test_mongodb_is_a_single_node_replica_set_initiated_by_its_healthcheck(
    services: dict[str, Any],
) -> None:
    mongo = services["mongodb"]
    check = " ".join(mongo["healthcheck"]["test"])

    assert mongo["image"] == "${CAPACITY_DB_IMAGE:-mongo:7}"  # the official image by default
    assert mongo["command"][:2] == ["--replSet", "rs0"]
    for part in ("mongosh", "rs.status()", "rs.initiate("):
        assert part in check
    assert "isWritablePrimary" in check  # healthy only once it can take writes


def test_api_scales_without_names_or_host_ports(services: dict[str, Any]) -> None:
    api = services["api"]

    assert "container_name" not in api
    assert "ports" not in api
    cpus = api["deploy"]["resources"]["limits"]["cpus"]  # "${API_CPUS:-1.0}"
    assert float(re.sub(r"\$\{[A-Z_]+:-([0-9.]+)\}", r"\1", cpus)) > 0
    assert "/health/ready" in " ".join(api["healthcheck"]["test"])
    assert api["stop_grace_period"]
    assert api["depends_on"] == {
        "mongodb": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert api["build"]["dockerfile"] == "compose/Dockerfile"


def test_api_takes_every_strategy_setting_from_the_env_file(services: dict[str, Any]) -> None:
    environment = services["api"]["environment"]

    for name in (
        "APP_ENV",
        "MONGODB_URI",
        "MONGODB_POOL_SIZE",
        "MONGODB_INDEXES",
        "REDIS_URL",
        "JWT_SECRET",
        "JWT_EXPIRE",
        "BCRYPT_ROUNDS",
        "ALLOWED_ORIGINS",
        "RATE_LIMIT_WINDOW",
        "RATE_LIMIT_MAX",
        "CACHE_TTL",
        "COMPRESSION",
        "LOG_LEVEL",
        "LOG_FILE_PATH",
    ):
        assert f"${{{name}" in str(environment[name]), name
    assert "replicaSet=rs0" in environment["MONGODB_URI"]


def test_nginx_fronts_the_api_with_the_rendered_config(services: dict[str, Any]) -> None:
    nginx = services["nginx"]

    assert nginx["depends_on"] == {"api": {"condition": "service_healthy"}}
    assert any(
        v.endswith(":/etc/nginx/nginx.conf:ro") and "./nginx.conf" in v for v in nginx["volumes"]
    )
    assert any(str(p).startswith("127.0.0.1:") for p in nginx["ports"])
    # `resolve` in an upstream needs nginx 1.27.3 or later
    official = nginx["image"].split(":-")[1].rstrip("}")  # ${CAPACITY_NGINX_IMAGE:-nginx:1.28-...}
    major, minor = (int(x) for x in official.split(":")[1].split("-")[0].split(".")[:2])
    assert (major, minor) >= (1, 28)


def test_load_profile_runs_a_locust_master_and_scalable_workers(services: dict[str, Any]) -> None:
    master, worker = services["locust-master"], services["locust-worker"]

    assert master["profiles"] == ["load"]
    assert worker["profiles"] == ["load"]
    assert master["command"][:4] == ["locust", "-f", "/loadtests", "--master"]
    assert worker["command"] == [
        "locust",
        "-f",
        "/loadtests",
        "--worker",
        "--master-host",
        "locust-master",
    ]
    assert "container_name" not in worker


def test_services_outside_the_load_profile_start_by_default(services: dict[str, Any]) -> None:
    assert [n for n, s in services.items() if "profiles" not in s] == [
        "mongodb",
        "redis",
        "api",
        "nginx",
    ]


def test_dockerfile_is_multi_stage_slim_and_runs_as_non_root() -> None:
    text = (COMPOSE / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\S+)$", text, flags=re.MULTILINE)
    api_stage = text[text.index("AS api") :]

    assert ("python:3.11-slim", "builder") in stages
    assert len(stages) >= 2
    assert "pip wheel" in text
    assert "--no-index --find-links=/wheels" in text  # the final stages install offline
    assert re.search(r"^USER app$", api_stage, flags=re.MULTILINE)
    healthcheck = api_stage[api_stage.index("HEALTHCHECK") : api_stage.index('CMD ["uvicorn')]
    assert "urllib.request" in healthcheck
    assert "/health'" in healthcheck
    assert '"--timeout-keep-alive", "75"' in api_stage


def test_a_stopped_api_drains_and_shuts_down_within_its_stop_grace_period(
    services: dict[str, Any],
) -> None:
    api = services["api"]
    drain = float(
        re.sub(r"\$\{DRAIN_SECONDS:-([0-9.]+)\}", r"\1", api["environment"]["DRAIN_SECONDS"])
    )
    graceful = re.search(
        r'"--timeout-graceful-shutdown", "(\d+)"', (COMPOSE / "Dockerfile").read_text()
    )
    assert graceful is not None

    assert drain > 0  # nginx's kept-alive connections are closed after an answer, not under it
    assert float(api["stop_grace_period"].removesuffix("s")) > drain + int(graceful.group(1))


def test_env_example_lists_the_strategy_variables() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

    for name in (
        "APP_ENV",
        "PORT",
        "MONGODB_URI",
        "REDIS_URL",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_PASSWORD",
        "JWT_SECRET",
        "ALLOWED_ORIGINS",
        "LOG_LEVEL",
        "LOG_FILE_PATH",
    ):
        assert name in values, name
    assert values["MONGODB_POOL_SIZE"] == "50"
    assert values["JWT_EXPIRE"] == "24h"
    assert values["BCRYPT_ROUNDS"] == "12"
    assert values["RATE_LIMIT_WINDOW"] == "15"
    assert values["RATE_LIMIT_MAX"] == "100"
    assert values["CACHE_TTL"] == "300"
    assert values["JWT_SECRET"] == "change-me"  # a placeholder production refuses
