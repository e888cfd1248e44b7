"""Registration, login, /me, and the tokens the API must refuse."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from reference_api.errors import InvalidCredentials
from reference_api.models import UserLogin
from reference_api.repository.users import UserRecord
from reference_api.routes import auth as auth_routes

from ._support import JWT_SECRET, PASSWORD, Api


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forge(
    claims: dict[str, Any],
    *,
    alg: str = "HS256",
    key: bytes = JWT_SECRET.encode(),
    header: dict[str, Any] | None = None,
) -> str:
    """A JWT built by hand, so that tests can make the ones PyJWT refuses to make."""
    head = b64(json.dumps(header or {"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signing_input = f"{head}.{body}".encode()
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    signature = b"" if alg == "none" else hmac.new(key, signing_input, digest[alg]).digest()
    return f"{head}.{body}.{b64(signature)}"


def claims_for(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture(scope="module")
def user(api: Api) -> tuple[str, str, dict[str, str]]:
    """email, id and Authorization header of a registered user."""
    email, headers = api.register()
    me = api.client.get("/api/auth/me", headers=headers)
    return email, me.json()["id"], headers


def test_registration_answers_the_public_user_without_the_hash(api: Api) -> None:
    email = f"New{uuid.uuid4().hex[:8]}@Example.COM"
    response = api.client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": " Ada "}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "name", "createdAt"}
    assert body["email"] == email.lower()
    assert body["name"] == "Ada"


def test_registering_the_same_email_twice_answers_409(api: Api) -> None:
    email, _ = api.register()
    again = api.client.post(
        "/api/auth/register", json={"email": email.upper(), "password": PASSWORD, "name": "X"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "email_taken"


def test_login_returns_a_bearer_token_that_opens_me(
    api: Api, user: tuple[str, str, dict[str, str]]
) -> None:
    email, user_id, _ = user
    login = api.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    token = login.json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 24 * 3600
    me = api.client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["id"] == user_id
    assert me.json()["email"] == email


def test_unknown_user_and_wrong_password_get_identical_answers(
    api: Api, user: tuple[str, str, dict[str, str]]
) -> None:
    email, _, _ = user
    wrong = api.client.post("/api/auth/login", json={"email": email, "password": "wrong-pass"})
    unknown = api.client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "wrong-pass"}
    )
    assert wrong.status_code == unknown.status_code == 401

    def without_request_id(response: httpx.Response) -> dict[str, Any]:
        return {k: v for k, v in response.json()["error"].items() if k != "request_id"}

    assert without_request_id(wrong) == without_request_id(unknown)
    assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", "a@b"),
        ("password", "short"),
        ("password", "x" * 129),
        ("name", "   "),
        ("name", "n" * 101),
    ],
)
def test_registration_validates_its_fields(api: Api, field: str, value: str) -> None:
    body = {"email": f"v{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "name": "V"}
    body[field] = value
    response = api.client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["body", field]


def test_a_long_password_of_multibyte_characters_still_works(api: Api) -> None:
    password = "é" * 128  # 256 bytes: more than bcrypt's 72
    email = f"long{uuid.uuid4().hex[:8]}@example.com"
    created = api.client.post(
        "/api/auth/register", json={"email": email, "password": password, "name": "L"}
    )
    assert created.status_code == 201
    ok = api.client.post("/api/auth/login", json={"email": email, "password": password})
    almost = api.client.post("/api/auth/login", json={"email": email, "password": "é" * 127 + "e"})
    assert ok.status_code == 200
    assert almost.status_code == 401


def test_validation_errors_never_echo_the_password(api: Api) -> None:
    secret = "sekr1t!"  # too short: refused, and must not come back
    response = api.client.post(
        "/api/auth/register", json={"email": "x@example.com", "password": secret, "name": "X"}
    )
    assert response.status_code == 422
    assert secret not in response.text


def test_registration_refuses_unknown_fields(api: Api) -> None:
    response = api.client.post(
        "/api/auth/register",
        json={"email": "admin@example.com", "password": PASSWORD, "name": "A", "role": "admin"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["type"] == "extra_forbidden"


def test_me_without_a_token_answers_401_in_the_error_shape(api: Api) -> None:
    response = api.client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def tampered(user_id: str) -> str:
    """A genuine token whose payload is swapped for another user's."""
    head, _, signature = forge(claims_for(user_id)).split(".")
    return f"{head}.{b64(json.dumps(claims_for('0' * 24)).encode())}.{signature}"


BAD_TOKENS: dict[str, Callable[[str], str]] = {
    "alg none": lambda uid: forge(claims_for(uid), alg="none"),
    "alg none, upper case": lambda uid: forge(
        claims_for(uid), alg="none", header={"alg": "NONE", "typ": "JWT"}
    ),
    "HS512 with the right key": lambda uid: forge(claims_for(uid), alg="HS512"),
    "RS256 header over an HMAC signature (key confusion)": lambda uid: forge(
        claims_for(uid), header={"alg": "RS256", "typ": "JWT"}
    ),
    "wrong key": lambda uid: forge(claims_for(uid), key=b"another-secret-" + b"k" * 40),
    "expired": lambda uid: forge(
        claims_for(uid, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    ),
    "missing sub": lambda uid: forge(claims_for(uid, sub=None)),
    "missing exp": lambda uid: forge(claims_for(uid, exp=None)),
    "missing iat": lambda uid: forge(claims_for(uid, iat=None)),
    "sub not an id": lambda uid: forge(claims_for("../../etc")),
    "tampered payload": tampered,
    "garbage": lambda uid: "not.a.jwt",
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_bad_tokens_are_refused_with_401(
    api: Api, user: tuple[str, str, dict[str, str]], kind: str
) -> None:
    _, user_id, _ = user
    good = forge(claims_for(user_id))
    assert (
        api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {good}"}).status_code
        == 200
    )
    token = BAD_TOKENS[kind](user_id)
    for path in ("/api/auth/me", "/api/tasks"):
        response = api.client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (kind, path, response.text)
        assert response.json()["error"]["code"] == "not_authenticated"


def test_a_basic_auth_header_is_not_a_token(api: Api) -> None:
    response = api.client.get("/api/tasks", headers={"Authorization": "Basic dTpw"})
    assert response.status_code == 401


def test_an_unknown_user_costs_one_bcrypt_check_like_a_wrong_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Time is not measured here (a shared machine makes it noise): what makes the two cost the
    # same is that both run one bcrypt check, the unknown user's against the dummy hash.
    known = UserRecord("0" * 24, "known@example.com", "K", "$2b$09$known-hash", datetime.now(UTC))
    checked: list[tuple[str, str]] = []

    async def verify(password: str, stored: str) -> bool:
        checked.append((password, stored))
        return False

    class Users:
        async def by_email(self, email: str) -> UserRecord | None:
            return known if email == known.email else None

    monkeypatch.setattr(auth_routes, "verify_password", verify)
    services = SimpleNamespace(users=Users(), dummy_hash="$2b$09$dummy-hash")

    for email in (known.email, "nobody@example.com"):
        body = UserLogin(email=email, password="wrong-pass")
        with pytest.raises(InvalidCredentials):
            asyncio.run(auth_routes.login(body, services))  # type: ignore[arg-type]

    assert checked == [("wrong-pass", "$2b$09$known-hash"), ("wrong-pass", "$2b$09$dummy-hash")]
