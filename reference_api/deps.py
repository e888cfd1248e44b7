"""Dependencies, as ``Annotated`` aliases the routes use.

Kept flat on purpose: FastAPI re-walks every dependency node on every request (and runs a plain
``def`` one in a worker thread), which cost more than the whole of a cached answer. So each
alias is one ``async def`` node that reads ``app.state`` directly, and an authenticated route
takes one ``Caller`` that carries what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reference_api.cache import Cache
from reference_api.errors import NotAuthenticated
from reference_api.repository import TasksRepository, UsersRepository
from reference_api.services import Services


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def client_ip(request: Request) -> str:
    """The client's address. Behind nginx this is the address nginx saw: uvicorn's proxy-headers
    support (on by default) replaces the socket peer by the nearest X-Forwarded-For hop only when
    the peer is trusted (``--forwarded-allow-ips`` / ``FORWARDED_ALLOW_IPS``, default
    127.0.0.1), so a client cannot choose its own address."""
    return request.client.host if request.client else "unknown"


async def limit_by_ip(request: Request, response: Response) -> Services:
    """Count an auth request against its client IP; the services, for the route."""
    services: Services = request.app.state.services
    ip = client_ip(request)
    structlog.contextvars.bind_contextvars(client=ip)
    quota = await services.limiter.hit("ip", ip)
    if quota is not None:
        response.headers.update(quota.headers())
        request.state.quota_headers = quota.headers()
    return services


@dataclass(frozen=True)
class Caller:
    """An authenticated request: who is calling, the services to serve them with, and the
    rate limit's headers (FastAPI adds them to a route's answer, but not to a ``Response`` the
    route makes itself)."""

    id: str
    services: Services
    headers: dict[str, str]

    @property
    def tasks(self) -> TasksRepository:
        return self.services.tasks

    @property
    def users(self) -> UsersRepository:
        return self.services.users

    @property
    def cache(self) -> Cache:
        return self.services.cache


_bearer = HTTPBearer(auto_error=False, description="JWT from POST /api/auth/login")


def _caller_id(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    services: Services = request.app.state.services
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated()
    user_id = services.tokens.subject(credentials.credentials)
    if len(user_id) != 24 or not all(c in "0123456789abcdef" for c in user_id):
        raise NotAuthenticated()
    structlog.contextvars.bind_contextvars(user=user_id)
    return user_id


async def current_caller(
    request: Request,
    response: Response,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller of an authenticated request (JWT ``sub``), counted against its rate limit."""
    services: Services = request.app.state.services
    user_id = _caller_id(request, credentials)
    quota = await services.limiter.hit("user", user_id)
    headers = {} if quota is None else quota.headers()
    response.headers.update(headers)
    request.state.quota_headers = headers
    return Caller(user_id, services, headers)


CurrentUser = Annotated[Caller, Depends(current_caller)]
AuthLimited = Annotated[Services, Depends(limit_by_ip)]
