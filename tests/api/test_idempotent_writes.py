"""Writes the driver retried after they took effect answer as if they had been sent once.

A private SecantusDB with test commands on arms mongod's ``failCommand`` failpoint: the API's next
write runs, then its reply carries a retryable write concern error, so PyMongo sends the write
again. The API's URI sets ``timeoutMS``, which gives the retry another ``maxTimeMS``; SecantusDB
then does not recognise it as a retry and runs it a second time, the way a retried insert met
E11000 on its own ``_id`` under load. The first test checks that premise, so the API tests after it
take that path rather than the server's retry record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient, MongoClient
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from harness.stack.processes import ManagedProcess, find_secantusd, free_port, port_is_open
from reference_api.repository import Document, insert_once, now_utc

from ._support import PASSWORD, Api, ApiFactory

Headers = dict[str, str]

API_REPLICA = "retries"
API_APP_NAME = f"reference_api/{API_REPLICA}"  # the appname the API's client announces
API_DB = "idem"
# mongod labels 262 (ExceededTimeLimit) retryable. 91 (ShutdownInProgress), the textbook example,
# is a state-change error: PyMongo would mark the server unknown and wait ~10 s before retrying.
RETRYABLE_WRITE_CONCERN_ERROR = {"code": 262, "errmsg": "write concern not met in time"}


@pytest.fixture(scope="module")
def failpoint_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SecantusDB of this module's own, with ``configureFailPoint``; its base URI."""
    binary = find_secantusd()
    if binary is None:
        pytest.skip("secantusd-py is not installed")
    work_dir, port = tmp_path_factory.mktemp("failpoint-db"), free_port()
    argv = [str(binary), "--port", str(port), "--storage-path", str(work_dir / "data")]
    argv += ["--log-level", "WARNING", "--enable-test-commands"]
    proc = ManagedProcess("db", argv, log_path=work_dir / "db.log", cwd=work_dir).start()
    try:
        proc.wait_ready(lambda: port_is_open("127.0.0.1", port))
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def mongo(failpoint_db: str) -> Iterator[MongoClient[Document]]:
    """The test's own client: arms failpoints, reads what the API stored."""
    client: MongoClient[Document] = MongoClient(
        f"{failpoint_db}/?directConnection=true", appname="idempotent-writes-test", tz_aware=True
    )
    yield client
    client.close()


@pytest.fixture(scope="module")
def retrying_api(api_factory: ApiFactory, failpoint_db: str, redis_url: str) -> Api:
    return api_factory(
        MONGODB_URI=f"{failpoint_db}/{API_DB}?directConnection=true&timeoutMS=10000",
        REDIS_URL=redis_url,
        REPLICA_ID=API_REPLICA,
    )


@contextmanager
def retried(
    mongo: MongoClient[Document], command: str, app_name: str = API_APP_NAME
) -> Iterator[None]:
    """Inside the block, the next ``command`` of ``app_name`` is applied and then answered with a
    retryable write concern error, so the driver sends it again."""
    data = {
        "failCommands": [command],
        "appName": app_name,
        "writeConcernError": RETRYABLE_WRITE_CONCERN_ERROR,
        "errorLabels": ["RetryableWriteError"],
    }
    arm = {"configureFailPoint": "failCommand", "mode": {"times": 1}, "data": data}
    mongo.admin.command(arm)
    try:
        yield
    finally:
        mongo.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


def received(mongo: MongoClient[Document], kind: str) -> int:
    """How many write commands of ``kind`` the server has received, retries included (a
    findAndModify counts as an update)."""
    return int(mongo.admin.command("serverStatus")["opcounters"][kind])


def stored(mongo: MongoClient[Document]) -> Database[Document]:
    return mongo[API_DB]


def create(api: Api, headers: Headers, **fields: Any) -> dict[str, Any]:
    response = api.client.post("/api/tasks", json={"title": "a task", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_database_runs_an_insert_again_when_its_retry_has_another_max_time_ms(
    failpoint_db: str, mongo: MongoClient[Document]
) -> None:
    uri, app_name = f"{failpoint_db}/?directConnection=true&timeoutMS=10000", "premise"

    with (
        MongoClient(uri, appname=app_name) as client,
        retried(mongo, "insert", app_name),
        pytest.raises(DuplicateKeyError) as raised,
    ):
        client["premise"]["things"].insert_one({"_id": ObjectId(), "n": 1})

    assert raised.value.details is not None
    assert raised.value.details["keyPattern"] == {"_id": 1}
    assert mongo["premise"]["things"].count_documents({}) == 1


def test_a_create_retried_after_it_was_stored_answers_201_with_the_one_stored_task(
    retrying_api: Api, mongo: MongoClient[Document]
) -> None:
    api, headers = retrying_api, retrying_api.auth()
    inserts = received(mongo, "insert")

    with retried(mongo, "insert"):
        response = api.client.post(
            "/api/tasks", json={"title": "sent once", "tags": ["retry"]}, headers=headers
        )

    assert response.status_code == 201, response.text
    assert received(mongo, "insert") - inserts == 2  # the driver did retry
    task = response.json()
    owner = ObjectId(task["owner"])
    assert stored(mongo).tasks.count_documents({"user": owner}) == 1
    assert api.client.get(f"/api/tasks/{task['id']}", headers=headers).json() == task


def test_a_registration_retried_after_it_was_stored_answers_201_and_the_email_stays_taken(
    retrying_api: Api, mongo: MongoClient[Document]
) -> None:
    api, email = retrying_api, f"retried-{ObjectId()}@example.com"
    account = {"email": email, "password": PASSWORD, "name": "Retried"}
    inserts = received(mongo, "insert")

    with retried(mongo, "insert"):
        response = api.client.post("/api/auth/register", json=account)

    assert response.status_code == 201, response.text
    assert received(mongo, "insert") - inserts == 2
    users = list(stored(mongo).users.find({"email": email}))
    assert [str(user["_id"]) for user in users] == [response.json()["id"]]
    login = api.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    again = api.client.post("/api/auth/register", json=account)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "email_taken"


def test_an_update_retried_after_it_was_applied_answers_200_with_the_updated_task(
    retrying_api: Api, mongo: MongoClient[Document]
) -> None:
    api, headers = retrying_api, retrying_api.auth()
    task = create(api, headers, title="before")
    updates = received(mongo, "update")

    with retried(mongo, "update"):
        response = api.client.patch(
            f"/api/tasks/{task['id']}", json={"title": "after", "status": "done"}, headers=headers
        )

    assert response.status_code == 200, response.text
    assert received(mongo, "update") - updates == 2
    updated = response.json()
    assert (updated["id"], updated["title"], updated["status"]) == (task["id"], "after", "done")
    assert api.client.get(f"/api/tasks/{task['id']}", headers=headers).json() == updated


def test_a_delete_retried_after_it_was_applied_answers_404_and_leaves_no_cached_copy(
    retrying_api: Api, mongo: MongoClient[Document]
) -> None:
    api, headers = retrying_api, retrying_api.auth()
    task_id = create(api, headers)["id"]
    path = f"/api/tasks/{task_id}"
    api.client.get(path, headers=headers)
    assert api.client.get(path, headers=headers).headers["x-cache"] == "HIT"
    deletes = received(mongo, "delete")

    with retried(mongo, "delete"):
        response = api.client.delete(path, headers=headers)

    # The server ran the retry again and found nothing to delete: the documented answer is 404
    # for a task that is indeed gone (never a 5xx); a server that recognises retries says 204.
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    assert received(mongo, "delete") - deletes == 2
    assert stored(mongo).tasks.count_documents({"_id": ObjectId(task_id)}) == 0
    assert api.client.get(path, headers=headers).status_code == 404


async def _insert_once(uri: str, doc: Document, same: tuple[str, ...]) -> Document:
    client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
    try:
        return await insert_once(client[API_DB]["tasks"], doc, same=same)
    finally:
        await client.close()


@pytest.mark.parametrize(
    "holder",
    [{"user": ObjectId()}, {"createdAt": datetime(2020, 1, 1, tzinfo=UTC)}],
    ids=["another-owners-task", "an-older-task-of-the-same-owner"],
)
def test_an_id_held_by_another_task_is_an_error_and_nothing_of_it_is_returned(
    failpoint_db: str, mongo: MongoClient[Document], holder: Document
) -> None:
    mine: Document = {
        "_id": ObjectId(),
        "user": ObjectId(),
        "title": "mine",
        "createdAt": now_utc(),
    }
    theirs = {**mine, "title": "theirs", **holder}
    stored(mongo).tasks.insert_one(dict(theirs))

    with pytest.raises(DuplicateKeyError):
        asyncio.run(
            _insert_once(f"{failpoint_db}/?directConnection=true", mine, ("user", "createdAt"))
        )

    assert stored(mongo).tasks.find_one({"_id": mine["_id"]}) == theirs
