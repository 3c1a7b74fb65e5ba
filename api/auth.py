"""Who is calling, may they use this route, and are they within their rate limit.

`EMN_AUTH_MODE=open` (the local single-user default) needs no key; `keys` needs an API key
(`Authorization: Bearer KEY` or `X-API-Key: KEY`) with the route's scope ('admin' holds every
scope). Each route declares its scope with `Depends(require("ask"))`. In `keys` mode an
address with EMN_AUTH_FAILURE_LIMIT failed authentications (401) within
EMN_AUTH_FAILURE_WINDOW_S gets 429 before its key is even looked up (api/auth_throttle.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.keys import ApiKey
from api.ratelimit import retry_after_header
from api.state import Service, ServiceDep

bearer_scheme = HTTPBearer(auto_error=False, description="API key as a bearer token.")
header_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key.")


@dataclass(frozen=True)
class Principal:
    """The caller: a key (id and name; never the key itself) or, in open mode, a client IP."""

    key_id: str | None
    name: str
    client: str
    rate_per_minute: float | None = None


def presented_key(
    bearer: HTTPAuthorizationCredentials | None, header_key: str | None
) -> str | None:
    if bearer is not None and bearer.credentials:
        return bearer.credentials.strip()
    if header_key:
        return header_key.strip()
    return None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_auth_throttle(service: Service, ip: str) -> None:
    """429 for an address with too many recent failed authentications (keys mode), before
    its key is looked up."""
    wait = service.throttle.blocked(f"ip:{ip}")
    if wait is not None:
        retry = retry_after_header(wait)
        raise ApiError(
            429,
            "too_many_auth_failures",
            f"Too many failed authentications from this address (more than "
            f"{service.settings.auth_failure_limit} in {service.settings.auth_failure_window_s:g}"
            f" s); retry in {retry} s.",
            {"Retry-After": retry},
        )


def admin_record(service: Service, request: Request, key: str | None) -> ApiKey | None:
    """The key's record when it holds the admin scope (throttled and counted like any
    authentication, so an optional key is no oracle for guessing), else None."""
    if not key:
        return None
    ip = client_address(request)
    if service.throttle.blocked(f"ip:{ip}") is not None:
        return None
    record = service.keys.lookup(key)
    if record is None:
        service.throttle.failed(f"ip:{ip}")
        return None
    return record if record.allows("admin") else None


def authenticate(service: Service, request: Request, key: str | None, scope: str) -> Principal:
    ip = client_address(request)
    if service.settings.auth_mode == "open":
        # No key needed; a valid key still names the caller in the audit log.
        record = service.keys.lookup(key) if key else None
        if record is not None:
            return Principal(record.id, record.name, f"key:{record.id}", record.rate_per_minute)
        return Principal(None, "anonymous", f"ip:{ip}")
    check_auth_throttle(service, ip)
    challenge = {"WWW-Authenticate": "Bearer"}
    if not key:
        service.throttle.failed(f"ip:{ip}")
        raise ApiError(
            401,
            "missing_api_key",
            "An API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'.",
            challenge,
        )
    record = service.keys.lookup(key)
    if record is None:
        service.throttle.failed(f"ip:{ip}")
        raise ApiError(401, "invalid_api_key", "The API key is unknown or revoked.", challenge)
    if not record.allows(scope):
        raise ApiError(
            403,
            "insufficient_scope",
            f"This API key lacks the '{scope}' scope required by this route.",
        )
    return Principal(record.id, record.name, f"key:{record.id}", record.rate_per_minute)


def require(scope: str, rate_limited: bool = True) -> Callable[..., Awaitable[Principal]]:
    """Dependency: authenticate for `scope`, then take one request from the rate limit."""

    async def dependency(
        request: Request,
        service: ServiceDep,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        header_key: Annotated[str | None, Depends(header_scheme)],
    ) -> Principal:
        principal = authenticate(service, request, presented_key(bearer, header_key), scope)
        wait = (
            service.limiter.check(principal.client, principal.rate_per_minute)
            if rate_limited
            else None
        )
        if wait is not None:
            raise ApiError(
                429,
                "rate_limited",
                f"Too many requests; retry in {retry_after_header(wait)} s.",
                {"Retry-After": retry_after_header(wait)},
            )
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


# The caller of a route, by the scope it needs.
AskCaller = Annotated[Principal, Depends(require("ask"))]
SearchCaller = Annotated[Principal, Depends(require("search"))]
FeedbackCaller = Annotated[Principal, Depends(require("feedback"))]
AdminCaller = Annotated[Principal, Depends(require("admin"))]
MetricsCaller = Annotated[Principal, Depends(require("admin", rate_limited=False))]
