"""What each operation requires, as permission classes the root fields list.

Each class names one requirement (``service.access.Need``); those of rate-limited
operations also count one attempt per field execution, so aliases cannot multiply
attempts.
The fields in ``schema/__init__.py`` declare them, which keeps the whole access policy
readable in one place."""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission

from schema.context import Info
from service import refresh
from service.access import Need, authorize, is_api_key
from service.ratelimit import Bucket


def _target(kwargs: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(product, env, tag) an operation acts on, from its arguments or its input."""
    source: Any = kwargs.get("input")
    if source is None:
        return kwargs.get("product"), kwargs.get("env"), kwargs.get("tag")
    return (
        getattr(source, "product", None),
        getattr(source, "env", None),
        getattr(source, "tag", None),
    )


class _Requires(BasePermission):
    need: ClassVar[Need]

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        product, env, tag = _target(kwargs)
        audit = info.context.audit
        audit.product, audit.env, audit.tag = product, env, tag
        # Raises Unauthenticated/Forbidden; rewrite_errors turns them into top-level
        # errors with those codes.
        authorize(await info.context.principal(), self.need, product, env)
        await self.count(info, kwargs)
        return True

    async def count(self, info: Info, kwargs: dict[str, Any]) -> None:
        """Count this attempt against the operation's rate limits (none by default)."""


class AdminOnly(_Requires):
    need = Need.ADMIN


class ProductKey(_Requires):
    need = Need.PRODUCT


class EndUserOnly(_Requires):
    need = Need.END_USER


class EntityCaller(_Requires):
    """Any credential; each entity is then checked against its owner's scope."""

    need = Need.ENTITY


class VerifyAccess(ProductKey):
    """A product key; its verifications are counted only against a quota an operator
    sets (none by default). Failed ones count in the resolver, after the fact."""

    async def count(self, info: Info, kwargs: dict[str, Any]) -> None:
        limits = info.context.tessera.rate_limits
        if limits.enabled(Bucket.VERIFY_PER_CREDENTIAL):
            principal = await info.context.principal()
            assert principal is not None  # authorized above
            limits.hit(Bucket.VERIFY_PER_CREDENTIAL, principal.label)


class RefreshCaller(_Requires):
    """The refresh token is the credential. An API key, if sent, must be in scope, and
    its refreshes are not counted; any other bearer (typically the expired session token
    a client attaches to every request) is ignored rather than refused, and the attempt
    counts per client IP and per session."""

    need = Need.REFRESH

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        credential = info.context.credential()
        if credential is not None and is_api_key(credential):
            return await super().has_permission(source, info, **kwargs)
        product, env, tag = _target(kwargs)
        audit = info.context.audit
        audit.product, audit.env, audit.tag = product, env, tag
        limits = info.context.tessera.rate_limits
        limits.hit(Bucket.REFRESH_PER_IP, info.context.client_ip)
        presented = refresh.parse(getattr(kwargs.get("input"), "refresh_token", ""))
        if presented is not None:
            limits.hit(Bucket.REFRESH_PER_SESSION, presented.session_id)
        return True
