"""Per-request context: the service, the request and the caller (resolved lazily)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from strawberry.types.info import Info as _Info

from service.access import Principal
from service.errors import Unauthenticated
from service.tessera import Tessera

_UNSET: Any = object()


def bearer(request: Request) -> str | None:
    """The credential of ``Authorization: Bearer <credential>``, if any."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <credential>'")
    return credential.strip()


class Context:
    def __init__(self, tessera: Tessera, request: Request) -> None:
        self.tessera = tessera
        self.request = request
        self._principal: Principal | None = _UNSET

    async def principal(self) -> Principal | None:
        """The authenticated caller, or ``None`` when no credential was sent."""
        if self._principal is _UNSET:
            self._principal = await self.tessera.access.authenticate(bearer(self.request))
        return self._principal


Info = _Info[Context, None]
