"""The app factory. ``create_app()`` with no argument reads the settings from the environment;
nothing connects before the lifespan starts."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from pydantic import ValidationError

from reference_api.admission import Admission
from reference_api.drain import Drain, drain_on_sigterm
from reference_api.errors import install_error_handlers
from reference_api.logs import configure_logging
from reference_api.metrics import Metrics
from reference_api.middleware import EdgeMiddleware
from reference_api.routes import auth, health, tasks
from reference_api.security import TokenIssuer
from reference_api.services import open_services
from reference_api.settings import Settings, signing_secret

log = logging.getLogger("reference_api")


def load_settings() -> Settings:
    """Settings from the environment, or one clear line on stderr and exit code 2."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            (f"{'.'.join(str(p) for p in err['loc']).upper()}: " if err["loc"] else "")
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors(include_input=False, include_url=False)
        )
        print(f"reference_api: refusing to start: {problems}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    listener = configure_logging(settings)
    secret, generated = signing_secret(settings)
    if generated:
        log.warning(
            "JWT_SECRET is not set: using a random secret for this process only "
            "(tokens will not work across replicas or restarts)"
        )
    tokens = TokenIssuer(secret, settings.jwt_expire_seconds)
    metrics = Metrics()
    drain = Drain()
    metrics.serving.watch(drain)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        undo_drain = drain_on_sigterm(drain, settings.drain_seconds)
        try:
            async with open_services(settings, metrics, tokens) as services:
                app.state.services = services
                log.info(
                    "started",
                    extra={
                        "env": settings.app_env,
                        "cache": services.cache.enabled,
                        "rate_limit": services.limiter.enabled,
                        "indexes": settings.mongodb_indexes,
                        "compression": settings.compression,
                    },
                )
                yield
            log.info("stopped")
        finally:
            undo_drain()
            listener.stop()

    app = FastAPI(
        title="Primo task API (reference)",
        version="1.0.0",
        description="The system under test of Primo Capacity.",
        lifespan=lifespan,
        docs_url="/docs" if settings.app_env != "production" else None,
        redoc_url=None,
        redirect_slashes=False,  # an API answers 404, not a redirect, for a stray slash
    )
    app.state.drain = drain
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(tasks.router)
    _add_middleware(app, settings, metrics, drain)
    return app


def _add_middleware(app: FastAPI, settings: Settings, metrics: Metrics, drain: Drain) -> None:
    # Added innermost first: the edge middleware is the outermost (it sees every answer).
    if settings.compression:
        # Level 1 (nginx's default) rather than Starlette's 9: every list answer is compressed,
        # HIT or not, and the CPU is the limit; a 20-task page (7.2 kB) is 1.08 kB instead of
        # 0.92 kB.
        app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=1)
    if settings.origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "X-Cache",
                "X-Replica",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
            max_age=600,
        )
    app.add_middleware(
        EdgeMiddleware,
        metrics=metrics,
        replica=settings.replica_id,
        max_body=settings.max_body_bytes,
        drain=drain,
        admission=Admission(
            settings.admission_max_latency_ms / 1000.0, settings.admission_min_in_flight
        ),
        delay_s=settings.inject_delay_ms / 1000.0,
    )
