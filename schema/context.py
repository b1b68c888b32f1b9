"""Per-request context: the service, the request, the client's address and the caller
(authenticated lazily, once per request, whatever the number of fields asking)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from starlette.requests import Request
from strawberry.types.info import Info as _Info

from service.access import Principal, is_api_key
from service.documents import Document
from service.errors import CredentialEnded, RateLimited, Unauthenticated
from service.events import Origin
from service.ratelimit import Bucket
from service.tessera import Tessera

security_log = logging.getLogger("tessera.security")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def is_trusted_proxy(address: str, trusted_proxies: tuple[str, ...]) -> bool:
    """Whether ``address`` (a peer's IP) is one of ``TESSERA_TRUSTED_PROXIES``."""
    if not trusted_proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(trusted_proxies))


def client_ip(request: Request, trusted_proxies: tuple[str, ...]) -> str:
    """The client's address. ``X-Forwarded-For`` is believed only when the peer is a
    trusted proxy, and then only up to the first hop that is not one."""
    peer = request.client.host if request.client else "unknown"
    networks = _networks(trusted_proxies)

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in networks)

    if not networks or not trusted(peer):
        return peer
    # Every X-Forwarded-For line, in order: a proxy may add its own line after one the
    # client sent, and the first line alone would be the client's word.
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return hops[0] if hops else peer


def bearer(request: Request) -> str | None:
    """The credential of ``Authorization: Bearer <credential>``, if any."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <credential>'")
    return credential.strip()


@dataclass(slots=True)
class Audit:
    """What the audit line of this operation reports; filled as the request runs."""

    product: str | None = None
    env: str | None = None
    tag: str | None = None
    outcomes: list[str] = field(default_factory=list)
    # The root fields the document selects (schema/documents.py works them out once).
    fields: tuple[str, ...] = ()


class Context:
    def __init__(self, tessera: Tessera, request: Request) -> None:
        self.tessera = tessera
        self.request = request
        self.client_ip = client_ip(request, tessera.settings.trusted_proxies)
        self.audit = Audit()
        # The caller, looked up once by the first field that asks; query fields run
        # concurrently, so the others await this same lookup rather than start their own
        # or see none while it is still running.
        self._caller: asyncio.Future[Principal | None] | None = None
        # A document the client sent to register, stored once it validates
        # (schema/persisted.py).
        self.unregistered: Document | None = None

    def credential(self) -> str | None:
        return bearer(self.request)

    async def principal(self) -> Principal | None:
        """The authenticated caller, or ``None`` when no credential was sent. A bad
        credential raises ``Unauthenticated`` (every time it is asked for) and counts
        once against the client's failed-authentication limit."""
        caller = self._caller
        if caller is None:
            caller = self._caller = asyncio.get_running_loop().create_future()
            try:
                caller.set_result(await self._authenticate())
            except asyncio.CancelledError:
                caller.cancel()
                raise
            except Exception as exc:  # every field that asks gets the same answer
                caller.set_exception(exc)
        elif not caller.done():
            # Shielded: this field being cancelled must not cancel the others' lookup.
            return await asyncio.shield(caller)
        return caller.result()

    async def principal_or_none(self) -> Principal | None:
        """The caller, for decisions and logs that do not require one (introspection,
        suggestions, the audit line). Only an API key is authenticated here, since only
        a key can be an admin: a bearer no field has needed — typically the expired
        session token a client attaches to ``refreshSession`` — is not checked, so it
        does not count as a failed authentication against the client's address."""
        if self._caller is None:
            try:
                credential = self.credential()
            except Unauthenticated:
                return None
            if credential is None or not is_api_key(credential):
                return None
        try:
            return await self.principal()
        except Exception:  # the fields that need the caller report it
            return None

    def origin(self) -> Origin:
        """Who makes this request's changes, for their events: the caller authenticated
        so far (the root field's access check has run by then), the client's address
        and its user agent."""
        caller = self._caller
        actor = None
        if caller is not None and caller.done() and not caller.cancelled():
            principal = None if caller.exception() is not None else caller.result()
            actor = None if principal is None else principal.label
        user_agent = self.request.headers.get("user-agent")
        return Origin.of_request(actor, self.client_ip, user_agent)

    def count_failed_token(self) -> None:
        """Count a malformed or forged token (or refresh token) this request presented:
        against its API key, or without one against the client's address. Raises
        ``RateLimited`` instead once that client is over its limit, so a sprayer gets
        nothing more out of its tokens while everyone else's genuine ones still work."""
        caller = self._caller
        principal = None
        if caller is not None and caller.done() and not caller.cancelled():
            principal = None if caller.exception() is not None else caller.result()
        limits = self.tessera.rate_limits
        if principal is not None and principal.key_id is not None:
            limits.hit(Bucket.FAILED_TOKENS_PER_CREDENTIAL, principal.label)
        else:
            limits.hit(Bucket.FAILED_AUTH_PER_IP, self.client_ip)

    async def _authenticate(self) -> Principal | None:
        try:
            credential = self.credential()
            if credential is None:
                return None
            return await self.tessera.access.authenticate(credential)
        except CredentialEnded:
            raise
        except Unauthenticated as exc:
            try:
                # Counted only now that the credential has failed: a genuine one from
                # the same address (a gateway, a NAT) is never refused for this.
                self.tessera.rate_limits.hit(Bucket.FAILED_AUTH_PER_IP, self.client_ip)
            except RateLimited:
                security_log.warning(
                    "security: failed authentication from %s, over the limit", self.client_ip
                )
                raise
            security_log.warning(
                "security: failed authentication from %s: %s", self.client_ip, exc.message
            )
            raise


Info = _Info[Context, Any]
