"""Password hashing (bcrypt, always in a worker thread) and JWT (HS256 only)."""

from __future__ import annotations

import base64
import hashlib
import time

import bcrypt
import jwt
from anyio import to_thread

from reference_api.errors import NotAuthenticated

_BCRYPT_MAX_BYTES = 72
ALGORITHM = "HS256"


def _password_bytes(password: str) -> bytes:
    """bcrypt reads at most 72 bytes (and bcrypt 5 refuses more): longer passwords are
    pre-hashed with SHA-256 so that every byte counts. Shorter ones are hashed as they are,
    which keeps hashes written by plain ``bcrypt.hashpw`` (the seeder's) valid."""
    raw = password.encode("utf-8")
    if len(raw) <= _BCRYPT_MAX_BYTES:
        return raw
    return base64.b64encode(hashlib.sha256(raw).digest())


def _hash_sync(password: str, rounds: int) -> str:
    return bcrypt.hashpw(_password_bytes(password), bcrypt.gensalt(rounds)).decode("ascii")


def _verify_sync(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(_password_bytes(password), password_hash.encode("ascii"))
    except ValueError:  # a malformed stored hash never matches
        return False


async def hash_password(password: str, rounds: int) -> str:
    return await to_thread.run_sync(_hash_sync, password, rounds)


async def verify_password(password: str, password_hash: str) -> bool:
    return await to_thread.run_sync(_verify_sync, password, password_hash)


class TokenIssuer:
    """Issues and checks HS256 tokens. A verified token is remembered (bounded) until it
    expires: PyJWT's checks cost far more per request than the rest of a cached answer."""

    def __init__(self, secret: str, expire_seconds: int, remember: int = 10_000) -> None:
        self._secret = secret
        self.expire_seconds = expire_seconds
        self._remember = remember
        self._verified: dict[str, tuple[str, float]] = {}

    def issue(self, user_id: str) -> str:
        now = int(time.time())
        claims = {"sub": user_id, "iat": now, "exp": now + self.expire_seconds}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def subject(self, token: str) -> str:
        """The user id in a valid token; ``NotAuthenticated`` for anything else."""
        known = self._verified.get(token)
        if known is not None:
            if known[1] > time.time():
                return known[0]
            del self._verified[token]
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise NotAuthenticated() from exc
        sub, exp = claims.get("sub"), claims.get("exp")
        if not isinstance(sub, str) or not sub or not isinstance(exp, int | float):
            raise NotAuthenticated()
        if len(self._verified) >= self._remember:
            self._verified.clear()  # rare; simpler and cheaper than LRU bookkeeping
        self._verified[token] = (sub, float(exp))
        return sub
