from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from reference_api.deps import ServicesDep
from reference_api.drain import Drain
from reference_api.errors import error_body, request_id_of
from reference_api.models import Health, Readiness

router = APIRouter(tags=["health"])

_PROBE_TIMEOUT = 1.5


@router.get("/health", response_model=Health, summary="Liveness (touches nothing)")
async def health() -> Health:
    return Health()


@router.get(
    "/health/ready",
    response_model=Readiness,
    response_model_exclude_none=True,
    summary="Readiness: pings MongoDB and Redis",
    responses={
        503: {
            "model": Readiness,
            "description": "The database is unreachable, or this replica is draining",
        }
    },
)
async def ready(request: Request, services: ServicesDep) -> Response:
    drain: Drain = request.app.state.drain
    if drain.draining:  # SIGTERM: take this replica out of rotation (Connection: close too)
        body = Readiness(status="draining").model_dump(exclude_none=True)
        body.update(
            error_body(503, "draining", "This replica is shutting down", request_id_of(request))
        )
        return JSONResponse(body, status_code=503)
    # Through the database guard: 503 at once while its circuit is open; once half-open, this
    # ping may be the probe that closes it (so it closes without traffic too).
    database_up = await services.database_up(_PROBE_TIMEOUT)
    redis = await services.redis_state(_PROBE_TIMEOUT)
    if not database_up:
        body = Readiness(status="unavailable", database="down", redis=redis).model_dump(
            exclude_none=True
        )
        body.update(
            error_body(
                503, "database_unavailable", "The database is unreachable", request_id_of(request)
            )
        )
        return JSONResponse(body, status_code=503)
    status = "degraded" if redis == "down" else "ready"
    return JSONResponse(
        Readiness(status=status, database="up", redis=redis).model_dump(exclude_none=True)
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format",
        }
    },
)
async def metrics(services: ServicesDep) -> Response:
    return Response(
        services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
