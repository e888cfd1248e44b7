"""Dependencies, as ``Annotated`` aliases the routes use.

All of them are ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread,
which costs more than everything these do."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reference_api.cache import Cache
from reference_api.errors import NotAuthenticated
from reference_api.repository import TasksRepository, UsersRepository
from reference_api.services import Services
from reference_api.settings import Settings


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_users(services: ServicesDep) -> UsersRepository:
    return services.users


async def get_tasks(services: ServicesDep) -> TasksRepository:
    return services.tasks


async def get_cache(services: ServicesDep) -> Cache:
    return services.cache


SettingsDep = Annotated[Settings, Depends(get_settings)]
UsersDep = Annotated[UsersRepository, Depends(get_users)]
TasksDep = Annotated[TasksRepository, Depends(get_tasks)]
CacheDep = Annotated[Cache, Depends(get_cache)]


def client_ip(request: Request) -> str:
    """The client's address. Behind nginx this is the address nginx saw: uvicorn's proxy-headers
    support (on by default) replaces the socket peer by the nearest X-Forwarded-For hop only when
    the peer is trusted (``--forwarded-allow-ips`` / ``FORWARDED_ALLOW_IPS``, default
    127.0.0.1), so a client cannot choose its own address."""
    return request.client.host if request.client else "unknown"


async def limit_by_ip(request: Request, response: Response, services: ServicesDep) -> None:
    ip = client_ip(request)
    request.state.client_ip = ip
    quota = await services.limiter.hit("ip", ip)
    if quota is not None:
        response.headers.update(quota.headers())
        request.state.quota_headers = quota.headers()


_bearer = HTTPBearer(auto_error=False, description="JWT from POST /api/auth/login")


async def current_user_id(
    request: Request,
    response: Response,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The user id (JWT ``sub``) of an authenticated request, counted against its rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated()
    user_id = services.tokens.subject(credentials.credentials)
    if len(user_id) != 24 or not all(c in "0123456789abcdef" for c in user_id):
        raise NotAuthenticated()
    request.state.user_id = user_id
    quota = await services.limiter.hit("user", user_id)
    if quota is not None:
        response.headers.update(quota.headers())
        request.state.quota_headers = quota.headers()
    return user_id


CurrentUser = Annotated[str, Depends(current_user_id)]
AuthRateLimit = Depends(limit_by_ip)
