"""What each operation requires, declared on the field as a permission."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from schema.context import Info


class AdminOnly(BasePermission):
    """Only an admin API key may run this operation."""

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        # Raises Unauthenticated/Forbidden, which ErrorPolicy turns into top-level
        # errors with those codes.
        info.context.tessera.access.require_admin(await info.context.principal())
        return True


class AnyCaller(BasePermission):
    """No credential needed (the input carries its own, e.g. a refresh token); a
    credential that is sent must still be valid."""

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        await info.context.principal()
        return True
