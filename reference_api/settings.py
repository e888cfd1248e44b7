"""Settings of one API process, read once from the environment (names as in the strategy)."""

from __future__ import annotations

import re
import secrets
import socket
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
MIN_SECRET_BYTES = 32


def parse_duration(value: str) -> int:
    """``24h``, ``30m``, ``3600s`` or a bare number of seconds → whole seconds (at least 1)."""
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"not a duration: {value!r} (use e.g. 24h, 30m, 3600s)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 1:
        raise ValueError(f"duration too short: {value!r}")
    return int(seconds)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    app_env: Literal["development", "test", "production"] = "development"
    port: int = Field(default=8000, ge=1, le=65535)
    replica_id: str = Field(default_factory=socket.gethostname, max_length=64)

    mongodb_uri: str = "mongodb://127.0.0.1:27017/primo"
    mongodb_pool_size: int = Field(default=50, ge=1, le=1000)
    # Server selection and connect timeout, and the deadline of a request's database work (every
    # operation of one repository call together; PyMongo's client-side operation timeout).
    mongodb_timeout_ms: int = Field(default=2000, ge=100, le=60000)
    # The database circuit breaker: after this many consecutive database outages (deadline
    # passed, connection lost) requests get 503 at once for the cooldown; then one probe decides.
    mongodb_breaker_failures: int = Field(default=5, ge=1)
    mongodb_breaker_cooldown: float = Field(default=2.0, gt=0, le=300)
    # The strategy's secondary indexes ({user, status}, {user, createdAt: -1}, {user, priority},
    # text on title + description); off only to measure what they buy. _id and the unique email
    # index always exist.
    mongodb_indexes: bool = True

    redis_url: str = ""
    redis_host: str = ""
    redis_port: int = Field(default=6379, ge=1, le=65535)
    redis_password: SecretStr | None = None
    redis_timeout: float = Field(default=0.1, gt=0, le=5)
    redis_breaker_failures: int = Field(default=3, ge=1)
    redis_breaker_cooldown: float = Field(default=2.0, gt=0)
    cache_enabled: bool = True
    cache_ttl: int = Field(default=300, ge=1)

    jwt_secret: SecretStr | None = None
    jwt_expire: str = "24h"
    bcrypt_rounds: int = Field(default=12, ge=4, le=31)

    allowed_origins: str = ""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    compression: bool = True  # gzip for answers of 1 KiB or more, when the client accepts it

    rate_limit_enabled: bool = True
    rate_limit_window: float = Field(default=15.0, gt=0)
    rate_limit_max: int = Field(default=100, ge=1)
    rate_limit_auth_max: int = Field(default=20, ge=1)
    # limits' strategy (reference_api/ratelimit.py); both cost two round trips a request. The
    # sliding-window counter keeps two counters a subject: a burst across a window's edge gets
    # the limit through (+1, the floor of the previous window's weighted share), but a client
    # that spends it all just before an edge and then paces itself gets up to 2 x limit - 1
    # within one window's time. The moving window is exact; it keeps a list of the subject's
    # hits in the window (every request, under the limits load runs set) at about twice the
    # Redis CPU (benchmarks/ratelimit_cost.py).
    rate_limit_strategy: Literal["sliding-window-counter", "moving-window"] = (
        "sliding-window-counter"
    )

    # Admission control (reference_api/admission.py): refuse a request at once (503 overloaded)
    # when those admitted would take longer than this to clear at the replica's recent
    # completion rate; never while fewer than ADMISSION_MIN_IN_FLIGHT are in flight. 0: off.
    # A quarter of the database deadline: an admitted request keeps room to finish within it.
    admission_max_latency_ms: int = Field(default=500, ge=0, le=60000)
    admission_min_in_flight: int = Field(default=16, ge=1, le=100000)

    # On SIGTERM, serve this long with readiness 503 and Connection: close before uvicorn's
    # graceful shutdown (reference_api/drain.py); 0: shut down at once (a balancer drained us).
    drain_seconds: float = Field(default=0.0, ge=0, le=120)

    # A fault to inject, for testing the harness's regression gate: every request waits this
    # long (off the CPU, on the event loop's timer) before it is served. Refused in production.
    inject_delay_ms: int = Field(default=0, ge=0, le=1000)

    log_level: str = "info"
    log_file_path: str = ""

    @field_validator("jwt_expire")
    @classmethod
    def _expire_is_a_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _production_needs_a_strong_secret(self) -> Settings:
        if self.app_env == "production" and self.inject_delay_ms:
            raise ValueError("INJECT_DELAY_MS is a test fault, refused when APP_ENV=production")
        if self.app_env == "production":
            secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"JWT_SECRET must be set to a random value of at least {MIN_SECRET_BYTES} "
                    "bytes when APP_ENV=production"
                )
        return self

    @property
    def jwt_expire_seconds(self) -> int:
        return parse_duration(self.jwt_expire)

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]

    @property
    def effective_redis_url(self) -> str | None:
        """The Redis to use, or None when the cache (and Redis rate limiting) is off."""
        if not self.cache_enabled:
            return None
        if self.redis_url:
            return self.redis_url
        if self.redis_host:
            auth = ""
            if self.redis_password is not None:
                auth = f":{self.redis_password.get_secret_value()}@"
            return f"redis://{auth}{self.redis_host}:{self.redis_port}/0"
        return None

    @property
    def rate_limit_window_seconds(self) -> float:
        return self.rate_limit_window * 60.0


def signing_secret(settings: Settings) -> tuple[str, bool]:
    """The JWT secret and whether it was generated for this process (development only)."""
    if settings.jwt_secret is not None and settings.jwt_secret.get_secret_value():
        return settings.jwt_secret.get_secret_value(), False
    return secrets.token_urlsafe(48), True
