from __future__ import annotations

from fastapi import APIRouter, status

from reference_api.deps import AuthLimited, CurrentUser
from reference_api.errors import InvalidCredentials
from reference_api.models import Token, UserCreate, UserLogin, UserPublic
from reference_api.routes import errors
from reference_api.security import hash_password, verify_password

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 409, 413, 422, 429, 503),
)
async def register(body: UserCreate, services: AuthLimited) -> UserPublic:
    password_hash = await hash_password(body.password, services.settings.bcrypt_rounds)
    user = await services.users.create(body.email, body.name, password_hash)
    return UserPublic(id=user.id, email=user.email, name=user.name, createdAt=user.created_at)


@router.post(
    "/login",
    responses=errors(400, 401, 413, 422, 429, 503),
)
async def login(body: UserLogin, services: AuthLimited) -> Token:
    user = await services.users.by_email(body.email)
    # An unknown user costs one bcrypt check too, and gets the same answer as a wrong password.
    stored = user.password_hash if user else services.dummy_hash
    valid = await verify_password(body.password, stored)
    if user is None or not valid:
        raise InvalidCredentials()
    return Token(
        access_token=services.tokens.issue(user.id),
        expires_in=services.tokens.expire_seconds,
    )


@router.get("/me", responses=errors(401, 404, 429, 503))
async def me(caller: CurrentUser) -> UserPublic:
    user = await caller.users.by_id(caller.id)
    return UserPublic(id=user.id, email=user.email, name=user.name, createdAt=user.created_at)
