"""The one settings object: environment variables prefixed ``TESSERA_``."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from service.errors import StartupError

API_KEY_PREFIX = "tsk_"
# An admin key guards everything, so it must be at least as strong as a generated one
# could reasonably be shortened to: 128 bits of estimated entropy after the prefix.
MIN_ADMIN_KEY_BITS = 128


def estimated_entropy_bits(secret: str) -> float:
    """Shannon entropy of the string's own character distribution, times its length.

    A crude but conservative estimate: repeated or low-variety strings score low."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    n = len(secret)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    return per_char * n


def decode_master_key(value: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("TESSERA_MASTER_KEY must be base64 of 32 bytes") from None
    if len(raw) != 32:
        raise ValueError("TESSERA_MASTER_KEY must be base64 of 32 bytes")
    return raw


# Request headers a cross-origin browser request may carry: what GraphQL clients send
# by default, so no client's preflight fails out of the box. Each is harmless to allow:
# the credential travels in Authorization either way, and no cookie is ever read.
DEFAULT_CORS_HEADERS = (
    # Every client: the credential and the body's type; Accept is safelisted only while
    # its value is short and plain, which urql's and graphql-http's lists may outgrow.
    "authorization",
    "content-type",
    "accept",
    # Apollo Client's clientAwareness, and Apollo's CSRF-prevention headers (the upload
    # link sends apollo-require-preflight; Apollo iOS and Kotlin the operation headers).
    "apollographql-client-name",
    "apollographql-client-version",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-apollo-operation-type",
    # GraphQL Hive's client identification (Hive Gateway, Router and its JS client).
    "graphql-client-name",
    "graphql-client-version",
    "x-graphql-client-name",
    "x-graphql-client-version",
    # Tracing: a request id, W3C Trace Context and Sentry (added by browser SDKs to the
    # URLs they are told to trace).
    "x-request-id",
    "traceparent",
    "tracestate",
    "baggage",
    "sentry-trace",
)
# An HTTP header name (RFC 9110 token).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class Settings(BaseSettings):
    """Runtime configuration. Secrets are ``SecretStr`` so ``repr`` never shows them."""

    model_config = SettingsConfigDict(env_prefix="TESSERA_", extra="ignore")

    mode: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path(".tessera")
    # Secret: a PostgreSQL URL may carry a password.
    database_url: SecretStr | None = None
    master_key: SecretStr | None = None
    admin_key: SecretStr | None = None
    log_level: str = "info"
    # uvicorn's line per request; the audit log already has one per request to /graphql.
    access_log: bool = False

    # Limits.
    max_details_bytes: int = Field(default=4096, ge=2)
    max_token_length: int = Field(default=8192, ge=256)
    refresh_grace_seconds: int = Field(default=10, ge=0, le=300)
    # Sessions past their absolute lifetime are kept this long (so a late verify says
    # EXPIRED rather than REVOKED and operators can look back), then swept.
    session_retention_seconds: int = Field(default=7 * 86_400, ge=0)
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    sweep_batch_size: int = Field(default=500, ge=1, le=10_000)
    # How stale what an instance caches (products, configs, API keys) may get when a
    # change notification from another instance is lost (service/cache.py).
    cache_recheck_seconds: float = Field(default=1.0, gt=0, le=3600)
    # Worker processes of `tessera serve` (web/workers.py); None: one per CPU this
    # process may run on in production, one in development.
    workers: int | None = Field(default=None, ge=1, le=256)

    # HTTP and GraphQL limits.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_query_depth: int = Field(default=10, ge=2)
    max_aliases: int = Field(default=20, ge=0)
    max_query_tokens: int = Field(default=2000, ge=50)
    max_directives: int = Field(default=10, ge=0)
    max_fields: int = Field(default=150, ge=10)
    # None: any origin in development, none in production.
    cors_origins: list[str] | None = None
    # Request headers allowed cross-origin; ["*"] allows any.
    cors_headers: list[str] = Field(default_factory=lambda: list(DEFAULT_CORS_HEADERS))
    # Peers whose X-Forwarded-For is believed (IPs or CIDRs, e.g. your load balancer).
    trusted_proxies: tuple[str, ...] = ()

    # Documents by id (service/documents.py): "off" (text only), "allow" (also by id:
    # automatic persisted queries, trusted documents), "require" (callers other than
    # admins run trusted documents only). "allow" in both modes: "require" would refuse
    # every backend that sends its own documents, until a manifest is registered.
    trusted_documents: Literal["off", "allow", "require"] = "allow"
    # Documents clients register (automatic persisted queries); the oldest go beyond it.
    max_persisted_queries: int = Field(default=10_000, ge=1)

    # Rate limits, in the `limits` library's notation ("100/minute"); empty disables one.
    # Failures (service/ratelimit.py says which): once over, further failures are
    # refused, never a genuine credential.
    rate_limit_failed_auth_per_ip: str = "30/minute"
    rate_limit_failed_tokens_per_credential: str = "600/minute"
    # Attempts: a quota on one key's verifications (none by default), and refreshes by
    # callers without a key.
    rate_limit_verify_per_credential: str = ""
    rate_limit_refresh_per_ip: str = "300/minute"
    rate_limit_refresh_per_session: str = "30/minute"

    # Session events and verification counters are kept this long, then swept.
    event_retention_seconds: int = Field(default=30 * 86_400, ge=0)

    # Keys (service/keyring.py, service/rotation.py). During a master-key rotation, the
    # key being replaced: still unwraps what it wrapped until `rotate-master-key` ran.
    master_key_previous: SecretStr | None = None
    # The base of every issuer URL (`<base>/products/<product>/<env>`), as verifiers
    # reach Tessera; None: http://<host>:<port> of the listen address.
    public_url: str | None = None
    # Rotate every key ring whose active key is this many days old; 0 (the default):
    # only when asked (`rotateKeys`, `tessera rotate-keys`).
    key_rotation_days: int = Field(default=0, ge=0, le=3650)

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", v):
            raise ValueError("TESSERA_PUBLIC_URL must be an http(s) URL without query or fragment")
        return v.rstrip("/")

    # Operations (README "Operators"). Log lines: None is JSON in production, plain
    # text in development.
    log_format: Literal["json", "text"] | None = None
    # A bearer that opens /metrics to clients not on loopback (secret).
    metrics_token: SecretStr | None = None
    # After SIGTERM: how long /readyz says 503 while connections are still accepted, so
    # balancers stop routing here first (None: 5 s in production, 0 in development)...
    shutdown_drain_seconds: float | None = Field(default=None, ge=0, le=3600)
    # ...then how long requests in flight may take to finish before they are cancelled.
    shutdown_timeout_seconds: int = Field(default=10, ge=0, le=3600)

    @field_validator("master_key", "master_key_previous")
    @classmethod
    def _check_master_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            decode_master_key(v.get_secret_value())
        return v

    @field_validator("admin_key")
    @classmethod
    def _check_admin_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        key = v.get_secret_value()
        if not key.startswith(API_KEY_PREFIX):
            raise ValueError(f"TESSERA_ADMIN_KEY must start with {API_KEY_PREFIX!r}")
        if estimated_entropy_bits(key[len(API_KEY_PREFIX) :]) < MIN_ADMIN_KEY_BITS:
            raise ValueError(
                "TESSERA_ADMIN_KEY is too weak: use 43 random URL-safe characters (or 64 "
                "hex digits) after the prefix; `tessera generate-key` prints one"
            )
        return v

    @field_validator("metrics_token")
    @classmethod
    def _check_metrics_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("TESSERA_METRICS_TOKEN must be at least 16 characters")
        return v

    @field_validator("cors_headers")
    @classmethod
    def _check_cors_headers(cls, v: list[str]) -> list[str]:
        for name in v:
            if name != "*" and not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
        return [name.lower() for name in v]

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for net in v:
            ipaddress.ip_network(net, strict=False)
        return v

    @field_validator(
        "rate_limit_failed_auth_per_ip",
        "rate_limit_failed_tokens_per_credential",
        "rate_limit_verify_per_credential",
        "rate_limit_refresh_per_ip",
        "rate_limit_refresh_per_session",
    )
    @classmethod
    def _check_rate(cls, v: str) -> str:
        if v:
            parse_many(v)
        return v

    @property
    def production(self) -> bool:
        return self.mode == "production"

    @property
    def resolved_log_format(self) -> Literal["json", "text"]:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.production else "text"

    @property
    def resolved_drain_seconds(self) -> float:
        if self.shutdown_drain_seconds is not None:
            return self.shutdown_drain_seconds
        return 5.0 if self.production else 0.0

    @property
    def resolved_database_url(self) -> str:
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'tessera.db').resolve()}"

    @property
    def public_base_url(self) -> str:
        """``public_url``, or the listen address's ``http://<host>:<port>``."""
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def master_key_file(self) -> Path:
        return self.data_dir / "master.key"

    @property
    def resolved_workers(self) -> int:
        """``workers``, or its default: one per usable CPU in production, else one."""
        if self.workers is not None:
            return self.workers
        if not self.production:
            return 1
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )


def load_settings() -> Settings:
    """Settings from the environment, or exit with status 2 and one line per bad one."""
    try:
        return Settings()
    except ValidationError as exc:
        causes: dict[str, list[str]] = {}
        # include_input=False: the rejected value may be a secret.
        for e in exc.errors(include_input=False, include_url=False):
            name = f"TESSERA_{str(e['loc'][0]).upper()}"
            causes.setdefault(name, []).append(e["msg"].removeprefix("Value error, "))
        problems = [StartupError(name, "; ".join(c)) for name, c in causes.items()]
    except SettingsError as exc:
        # A list-valued setting whose value is not JSON; only the message names it.
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"TESSERA_{field[1].upper()}" if field else "TESSERA_*"
        problems = [StartupError(name, 'not valid JSON (a list is written ["a", "b"])')]
    for problem in problems:
        print(problem.line(), file=sys.stderr)
    raise SystemExit(2)
