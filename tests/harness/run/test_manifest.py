"""``manifest.json`` and ``run.json``: the keys the report and the gate read, in their order."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.run.audit import AuditOutcome
from harness.run.faults import FaultRecord
from harness.run.manifest import (
    Host,
    LoadInfo,
    Manifest,
    RunRecord,
    SeedInfo,
    Services,
    Topology,
    database_name,
    git_commit,
    host_info,
    package_versions,
    redacted,
    with_database,
)

FIRST_KEYS = [
    "schema", "scenario", "scenario_file", "phase", "topology", "target_rate", "load",
    "git_commit", "host", "versions", "started", "finished", "status",
]  # fmt: skip


def manifest() -> Manifest:
    return Manifest(
        scenario="smoke",
        scenario_file="/repo/scenarios/smoke.toml",
        phase="r2-cache-on",
        topology=Topology(replicas=2, cache=True, lb="auto", backend="local"),
        target_rate=None,
        load=LoadInfo(model="closed", processes=1),
        git_commit="abc123",
        host=Host(cores=8, memory_bytes=2**34, platform="Linux", machine="x86_64"),
        versions={"python": "3.11.7"},
    )


def test_a_starting_phase_writes_only_what_is_known(tmp_path: Path) -> None:
    manifest().write(tmp_path)

    written = json.loads((tmp_path / "manifest.json").read_text())
    assert list(written) == FIRST_KEYS
    assert written["schema"] == 1
    assert written["status"] == "running"
    assert written["finished"] is None
    assert written["topology"] == {
        "replicas": 2, "cache": True, "lb": "auto", "backend": "local", "balancer": None,
        "indexes": True, "compression": True, "env": {}, "cpus_per_replica": None,
        "images": {},
    }  # fmt: skip
    assert written["load"] == {"model": "closed", "processes": 1}
    assert set(written["host"]) == {"cores", "memory_bytes", "platform", "machine"}


def test_a_finished_phase_adds_components_data_and_the_exit_code_in_that_order() -> None:
    record = manifest()
    record.topology = replace(record.topology, balancer="nginx")
    record.components = ["db", "redis", "api-1", "api-2", "nginx"]
    record.data = SeedInfo(users=50, tasks_per_user=20, seed_seconds=1.048)

    record.finish("complete", 0, "")
    written = record.to_dict()

    assert list(written) == [*FIRST_KEYS, "components", "data", "locust_exit_code"]
    assert written["status"] == "complete"
    assert written["finished"] is not None
    assert written["topology"]["balancer"] == "nginx"
    assert written["data"] == {
        "users": 50, "tasks_per_user": 20, "seed_seconds": 1.048, "indexes": None,
        "seeded": "database",
    }  # fmt: skip
    assert written["locust_exit_code"] == 0


def test_the_faults_come_last_as_they_happened_only_when_the_scenario_has_any() -> None:
    record = manifest()
    record.finish("complete", 1, "")
    without = record.to_dict()
    record.faults = [
        FaultRecord("stop", "db", 25.0, 15.0, "db", started_s=25.03, ended_s=40.0),
        FaultRecord("kill", "nginx", 50.0, None, "nginx", error="nginx: no such component"),
    ]

    written = record.to_dict()

    assert "faults" not in without
    assert list(written) == [*list(without), "faults"]
    assert written["faults"] == [
        {"action": "stop", "component": "db", "at_s": 25.0, "duration_s": 15.0, "target": "db",
         "started_s": 25.03, "ended_s": 40.0},
        {"action": "kill", "component": "nginx", "at_s": 50.0, "duration_s": None,
         "target": "nginx", "started_s": None, "ended_s": None,
         "error": "nginx: no such component"},
    ]  # fmt: skip


def test_the_endpoint_costs_file_is_named_last_only_once_it_was_written() -> None:
    record = manifest()
    record.finish("complete", 0, "")
    without = record.to_dict()
    record.endpoint_costs = "endpoint_costs.json"

    written = record.to_dict()

    assert "endpoint_costs" not in without
    assert list(written) == [*list(without), "endpoint_costs"]
    assert written["endpoint_costs"] == "endpoint_costs.json"


def test_the_audit_says_its_counts_or_why_it_was_not_possible_once_it_ran() -> None:
    record = manifest()
    record.finish("complete", 0, "")
    without = record.to_dict()
    totals = {"lost": 0, "resurrected": 1, "phantom": 0, "ambiguous": 2}
    record.audit = AuditOutcome(True, totals)

    audited = record.to_dict()
    why = "the database could not be read (refused)"
    record.audit = AuditOutcome(False, reason=why)
    impossible = record.to_dict()

    assert "audit" not in without
    assert audited["audit"] == {"file": "audit.json", "audited": True, **totals}
    assert impossible["audit"] == {"file": "audit.json", "audited": False, "reason": why}


def test_a_phase_that_failed_before_locust_records_the_error_and_no_exit_code() -> None:
    record = manifest()

    record.finish("failed", None, "db: did not start")
    written = record.to_dict()

    assert list(written) == [*FIRST_KEYS, "locust_exit_code", "error"]
    assert written["locust_exit_code"] is None
    assert written["error"] == "db: did not start"


def test_run_json_lists_the_completed_phases_once_the_run_has_ended(tmp_path: Path) -> None:
    record = RunRecord("smoke", ["r1-cache-on", "r2-cache-on"], ["capacity", "run", "smoke"])
    started = record.to_dict()

    record.status = "interrupted"
    record.finish(["r1-cache-on"])
    record.write(tmp_path)
    ended = json.loads((tmp_path / "run.json").read_text())

    keys = ["schema", "scenario", "phases", "started", "finished", "argv", "status"]
    assert list(started) == keys
    assert list(ended) == [*keys, "completed_phases"]
    assert ended["status"] == "interrupted"
    assert ended["completed_phases"] == ["r1-cache-on"]


def test_provenance_names_this_python_and_this_machine() -> None:
    versions = package_versions()
    host = host_info()
    commit = git_commit()

    assert versions["python"].count(".") == 2
    assert "locust" in versions
    assert host.memory_bytes > 0
    assert commit is None or len(commit.removesuffix("-dirty")) == 40


def test_a_named_phase_says_so_and_describes_itself_last() -> None:
    record = manifest()
    record.finish("complete", 0, "")
    without = record.to_dict()
    record.plan = "phases"
    record.description = "one instance, no cache"

    written = record.to_dict()

    assert "plan" not in without
    assert list(written) == [*list(without), "plan", "description"]
    assert (written["plan"], written["description"]) == ("phases", "one instance, no cache")


def test_the_seeded_indexes_are_recorded_with_the_data() -> None:
    record = manifest()
    record.data = SeedInfo(10, 2, 0.5, ["tasks._id_", "users._id_", "users.email_1"])

    assert record.to_dict()["data"]["indexes"] == ["tasks._id_", "users._id_", "users.email_1"]


def test_the_env_keeps_its_keys_but_not_the_values_of_secrets() -> None:
    env = {
        "JWT_SECRET": "s3cret",
        "REDIS_PASSWORD": "pw",
        "AWS_ACCESS_KEY": "AKIA",
        "API_TOKEN": "t",
        "REDIS_URL": "redis://:pw@127.0.0.1:6379/0",
        "MONGODB_URI": "mongodb://127.0.0.1:27017/primo",
        "RATE_LIMIT_AUTH_MAX": "100",
        "CACHE_TTL": "5",
    }

    shown = redacted(env)

    assert list(shown) == list(env)
    assert shown["JWT_SECRET"] == shown["REDIS_PASSWORD"] == "<redacted>"
    assert shown["AWS_ACCESS_KEY"] == shown["API_TOKEN"] == "<redacted>"
    assert shown["REDIS_URL"] == "redis://<redacted>@127.0.0.1:6379/0"
    assert shown["MONGODB_URI"] == env["MONGODB_URI"]
    assert (shown["RATE_LIMIT_AUTH_MAX"], shown["CACHE_TTL"]) == ("100", "5")


def test_external_services_are_recorded_with_a_fresh_database_per_phase_and_no_password() -> None:
    services = Services(
        "mongodb://app:hunter2@db.example:27017/primo?replicaSet=rs0", "redis://r:6379/0"
    )
    record = manifest()
    record.services = services.for_phase("20261202T110000Z_smoke", "r1-cache-on")

    written = record.to_dict()["services"]

    assert written["mongodb"] == (
        "mongodb://<redacted>@db.example:27017/primo_20261202T110000Z_smoke_r1-cache-on"
        "?replicaSet=rs0&authSource=primo"  # the credentials still log in where they did
    )
    assert written["redis"] == "redis://r:6379/0"
    assert "hunter2" not in str(record.to_dict())


def test_two_phases_of_one_run_get_two_database_names() -> None:
    services = Services("mongodb://127.0.0.1:27017/primo")

    first = services.phase_mongodb_uri("run", "r1-cache-on")
    second = services.phase_mongodb_uri("run", "r2-cache-on")

    assert first != second
    assert first == "mongodb://127.0.0.1:27017/primo_run_r1-cache-on"


def test_a_database_name_stays_within_mongodbs_limit_and_alphabet() -> None:
    name = database_name(
        "20261202T110000Z_a.very.long.scenario.name", "phase 1/with $odd chars" * 3
    )

    assert len(name) <= 63
    assert all(c.isalnum() or c in "_-" for c in name)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mongodb://db:27017/primo", "mongodb://db:27017/primo_r_p"),
        ("mongodb://u:pw@db:27017/admin", "mongodb://u:pw@db:27017/primo_r_p?authSource=admin"),
        ("mongodb://u:pw@db:27017", "mongodb://u:pw@db:27017/primo_r_p?authSource=admin"),
        (
            "mongodb://u:pw@db/app?tls=true",
            "mongodb://u:pw@db/primo_r_p?tls=true&authSource=app",
        ),
        (
            "mongodb://u:pw@db/app?authSource=admin",
            "mongodb://u:pw@db/primo_r_p?authSource=admin",
        ),
    ],
)
def test_a_fresh_database_keeps_the_one_credentials_authenticate_against(
    uri: str, expected: str
) -> None:
    assert with_database(uri, "primo_r_p") == expected
