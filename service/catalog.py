"""Products, their environments and their session configs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from service.cache import Cache
from service.clock import Clock
from service.errors import (
    AlreadyExists,
    EnvNotFound,
    FieldError,
    InvalidInput,
    NotFound,
    ProductNotFound,
    SchemaValidationFailed,
    SessionConfigNotFound,
)
from service.events import SYSTEM, EventType, Origin, event
from service.jsonschemas import compiled
from service.validation import name, slug, text
from store import ConfigValues, Conflict, ProductRecord, SessionConfigRecord, Store

DEFAULT_ENVS = ("dev", "staging", "prd")
DEFAULT_SELECTOR = "$Session{userId}"
SELECTOR = re.compile(r"\$Session\{(userId|details(?:\.[A-Za-z0-9_-]+)+)\}")
MAX_SCHEMA_BYTES = 16 * 1024
MAX_ENVS = 32
MAX_DESCRIPTION = 2000
# An access token outliving a day defeats the point of refresh; a session beyond a
# year is no longer a session.
MAX_ACCESS_SECONDS = 86_400
MAX_REFRESH_SECONDS = 366 * 86_400


class Period(StrEnum):
    SECONDS = "SECONDS"
    MINUTES = "MINUTES"
    HOURS = "HOURS"
    DAYS = "DAYS"

    @property
    def seconds(self) -> int:
        return {"SECONDS": 1, "MINUTES": 60, "HOURS": 3600, "DAYS": 86_400}[self.value]


class TokenFormat(StrEnum):
    """How a config's session tokens are made."""

    ENCRYPTED = "ENCRYPTED"
    """A JWE (``dir``, ``A256GCM``): only Tessera reads it (``verifySession``)."""
    SIGNED = "SIGNED"
    """A JWS (``ES256``): readable by whoever holds it, verifiable by anyone from the
    issuer's JWKS."""


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """A session config as an administrator describes it; unset fields take defaults."""

    tag: str
    name: str | None = None
    description: str = ""
    selector: str = DEFAULT_SELECTOR
    expiry: int = 1
    period: Period = Period.HOURS
    refresh_expiry: int = 30
    refresh_period: Period = Period.DAYS
    idle_timeout: int | None = None
    refresh_grace_seconds: int | None = None
    schema: Any = None
    token_format: TokenFormat = TokenFormat.ENCRYPTED
    signed_details: bool = False


@dataclass(frozen=True, slots=True)
class ConfigPatch:
    """Fields to change; ``None`` leaves a field as it is. ``clear_*`` unsets one."""

    name: str | None = None
    description: str | None = None
    selector: str | None = None
    expiry: int | None = None
    period: Period | None = None
    refresh_expiry: int | None = None
    refresh_period: Period | None = None
    idle_timeout: int | None = None
    refresh_grace_seconds: int | None = None
    schema: Any = None
    token_format: TokenFormat | None = None
    signed_details: bool | None = None
    clear_schema: bool = False
    clear_idle_timeout: bool = False


def access_seconds(config: SessionConfigRecord) -> int:
    return config.expiry * Period(config.period).seconds


def refresh_seconds(config: SessionConfigRecord) -> int:
    return config.refresh_expiry * Period(config.refresh_period).seconds


def validate_details(config: SessionConfigRecord, details: dict[str, Any]) -> None:
    """Raise ``SchemaValidationFailed`` listing every failing path of ``details``, or
    ``InvalidInput`` if the config's schema was stored before its references were
    checked and cannot be used."""
    if config.json_schema is None:
        return
    schema = compiled(config.json_schema)
    if schema.validator is None:
        problem = schema.problems[0]
        raise InvalidInput(
            f"session config {config.tag!r} has a schema that cannot be used "
            f"({problem.field} {problem.message}); update the config's schema",
            field="tag",
        )
    errors: list[FieldError] = []
    for error in schema.validator.iter_errors(details):
        path = ".".join(["data", "details", *(str(p) for p in error.absolute_path)])
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [p for p in error.validator_value if p not in error.instance]
            errors.extend(FieldError(f"{path}.{p}", "is required") for p in missing)
        else:
            errors.append(FieldError(path, error.message))
    if errors:
        errors.sort(key=lambda e: e.field)
        raise SchemaValidationFailed(
            "data.details does not match the session config's schema",
            field_errors=tuple(errors),
        )


def _check_schema(schema: Any) -> str:
    if not isinstance(schema, dict):
        raise InvalidInput("schema must be a JSON Schema object", field="schema")
    text = json.dumps(schema, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > MAX_SCHEMA_BYTES:
        raise InvalidInput(f"schema is larger than {MAX_SCHEMA_BYTES} bytes", field="schema")
    # Compiling here also fills the cache the config's sessions will use.
    problems = compiled(text).problems
    if problems:
        first = problems[0]
        message = first.message if first.field == "schema" else f"{first.field} {first.message}"
        raise InvalidInput(message, field="schema", field_errors=problems)
    return text


def _values(spec: ConfigSpec) -> ConfigValues:
    problems: list[FieldError] = []

    def check(ok: bool, field: str, message: str) -> None:
        if not ok:
            problems.append(FieldError(field, message))

    check(
        bool(SELECTOR.fullmatch(spec.selector)),
        "selector",
        "selector must be $Session{userId} or $Session{details.<path>}",
    )
    check(spec.expiry > 0, "expiry", "expiry must be positive")
    check(spec.refresh_expiry > 0, "refreshExpiry", "refreshExpiry must be positive")
    access = spec.expiry * spec.period.seconds
    refresh = spec.refresh_expiry * spec.refresh_period.seconds
    check(access <= MAX_ACCESS_SECONDS, "expiry", "the access token may live at most 1 day")
    check(refresh <= MAX_REFRESH_SECONDS, "refreshExpiry", "a session may live at most 366 days")
    check(access <= refresh, "expiry", "the access token cannot outlive the session")
    if spec.idle_timeout is not None:
        check(spec.idle_timeout > 0, "idleTimeout", "idleTimeout must be positive (seconds)")
    if spec.refresh_grace_seconds is not None:
        check(
            0 <= spec.refresh_grace_seconds <= 300,
            "refreshGraceSeconds",
            "refreshGraceSeconds must be between 0 and 300",
        )
    check(
        len(spec.description) <= MAX_DESCRIPTION,
        "description",
        f"description may be at most {MAX_DESCRIPTION} characters",
    )
    if problems:
        raise InvalidInput(problems[0].message, field_errors=tuple(problems))
    return ConfigValues(
        tag=slug(spec.tag, "tag"),
        name=name(spec.name if spec.name is not None else spec.tag, "name"),
        description=text(spec.description, "description"),
        selector=spec.selector,
        expiry=spec.expiry,
        period=spec.period.value,
        refresh_expiry=spec.refresh_expiry,
        refresh_period=spec.refresh_period.value,
        idle_timeout=spec.idle_timeout,
        refresh_grace_seconds=spec.refresh_grace_seconds,
        json_schema=None if spec.schema is None else _check_schema(spec.schema),
        token_format=spec.token_format.value,
        signed_details=spec.signed_details,
    )


# What a stored config holds as ConfigSpec does; the other spec fields are converted.
_STORED_AS_IS = tuple(
    f.name
    for f in fields(ConfigSpec)
    if f.name not in ("period", "refresh_period", "schema", "token_format")
)
# The fields a patch replaces when set, and those its clear_<field> flags unset.
_PATCHED = tuple(f.name for f in fields(ConfigPatch) if not f.name.startswith("clear_"))
_CLEARABLE = tuple(f.name for f in fields(ConfigPatch) if f.name.startswith("clear_"))


def _spec_of(config: SessionConfigRecord) -> ConfigSpec:
    return ConfigSpec(
        **{name: getattr(config, name) for name in _STORED_AS_IS},
        period=Period(config.period),
        refresh_period=Period(config.refresh_period),
        schema=None if config.json_schema is None else json.loads(config.json_schema),
        token_format=TokenFormat(config.token_format),
    )


class Catalog:
    """Administration of products and session configs.

    Administration reads the store itself (an update must start from what is stored);
    the session operations' resolution reads through the ``Cache``."""

    def __init__(self, store: Store, clock: Clock, cache: Cache, *, auto_provision: bool) -> None:
        self._store = store
        self._clock = clock
        self._cache = cache
        self.auto_provision = auto_provision

    # Products ------------------------------------------------------------------------
    async def create_product(
        self,
        tag: str,
        product_name: str,
        envs: list[str] | None = None,
        *,
        origin: Origin = SYSTEM,
    ) -> ProductRecord:
        """Create a product; its environments default to dev, staging and prd."""
        env_list = list(DEFAULT_ENVS) if envs is None else envs
        if not env_list or len(env_list) > MAX_ENVS:
            raise InvalidInput(f"envs must list 1-{MAX_ENVS} environments", field="envs")
        for i, env in enumerate(env_list):
            slug(env, f"envs.{i}")
        if len(set(env_list)) != len(env_list):
            raise InvalidInput("envs must not repeat", field="envs")
        now = self._clock.now()
        try:
            return await self._store.insert_product(
                slug(tag, "tag"),
                name(product_name, "name"),
                tuple(env_list),
                now,
                event=event(EventType.PRODUCT_CREATED, now, origin, tag),
            )
        except Conflict:
            raise AlreadyExists(f"product {tag!r} already exists", field="tag") from None

    async def products(self) -> list[ProductRecord]:
        return await self._store.list_products()

    async def product(self, tag: str) -> ProductRecord:
        product = await self._store.get_product(tag)
        if product is None:
            raise ProductNotFound(f"product {tag!r} does not exist", field="product")
        return product

    async def find_product(self, tag: str) -> ProductRecord | None:
        return await self._store.get_product(tag)

    def forget(self) -> None:
        """Drop what is cached: the caller found it outdated."""
        self._cache.drop()

    async def cached_product(self, tag: str) -> ProductRecord | None:
        """The product with this tag through the cache, or ``None`` (for public reads,
        which must not each reach the database)."""
        return await self._cache.product(tag)

    async def product_by_id(self, product_id: int) -> ProductRecord | None:
        """The product with this id, through the cache (an end user's token names its
        product's id only)."""
        return await self._cache.product_by_id(product_id)

    # Session configs -----------------------------------------------------------------
    async def create_config(
        self, product_tag: str, spec: ConfigSpec, *, origin: Origin = SYSTEM
    ) -> SessionConfigRecord:
        product = await self.product(product_tag)
        values = _values(spec)
        now = self._clock.now()
        created = event(EventType.CONFIG_CREATED, now, origin, product.tag, tag=values.tag)
        try:
            return await self._store.insert_config(product.id, values, now, event=created)
        except Conflict:
            raise AlreadyExists(
                f"session config {spec.tag!r} already exists", field="tag"
            ) from None

    async def config(self, product_tag: str, tag: str) -> SessionConfigRecord:
        product = await self.product(product_tag)
        config = await self._store.get_config(product.id, tag)
        if config is None:
            raise SessionConfigNotFound(f"session config {tag!r} does not exist", field="tag")
        return config

    async def find_config(self, product_tag: str, tag: str) -> SessionConfigRecord | None:
        product = await self._store.get_product(product_tag)
        return None if product is None else await self._store.get_config(product.id, tag)

    async def configs(self, product_tag: str) -> list[SessionConfigRecord]:
        product = await self.product(product_tag)
        return await self._store.list_configs(product.id)

    async def update_config(
        self, product_tag: str, tag: str, patch: ConfigPatch, *, origin: Origin = SYSTEM
    ) -> SessionConfigRecord:
        current = await self.config(product_tag, tag)
        spec = _spec_of(current)
        changes = {k: getattr(patch, k) for k in _PATCHED if getattr(patch, k) is not None}
        changes.update({k.removeprefix("clear_"): None for k in _CLEARABLE if getattr(patch, k)})
        spec = replace(spec, **changes)
        now = self._clock.now()
        updated = await self._store.update_config(
            current.id,
            _values(spec),
            now,
            event=event(EventType.CONFIG_UPDATED, now, origin, product_tag, tag=tag),
        )
        if updated is None:
            raise SessionConfigNotFound(f"session config {tag!r} does not exist", field="tag")
        return updated

    async def delete_config(
        self, product_tag: str, tag: str, *, origin: Origin = SYSTEM
    ) -> SessionConfigRecord:
        """Delete a config and every session minted under it."""
        config = await self.config(product_tag, tag)
        deleted = event(EventType.CONFIG_DELETED, self._clock.now(), origin, product_tag, tag=tag)
        if not await self._store.delete_config(config.id, event=deleted):
            raise SessionConfigNotFound(f"session config {tag!r} does not exist", field="tag")
        return config

    # Resolution for session operations -----------------------------------------------
    async def scope(
        self, product_tag: str, env: str, tag: str
    ) -> tuple[ProductRecord, SessionConfigRecord]:
        """Product and config named by (product, env, tag), or the NotFound error of the
        first that is missing. Never provisions anything."""
        product = await self._cache.product(product_tag)
        if product is None:
            raise ProductNotFound(f"product {product_tag!r} does not exist", field="product")
        if env not in product.envs:
            raise EnvNotFound(f"environment {env!r} does not exist", field="env")
        config = await self._cache.config(product.id, tag)
        if config is None:
            raise SessionConfigNotFound(f"session config {tag!r} does not exist", field="tag")
        return product, config

    async def resolve_existing(
        self, product_tag: str, env: str, tag: str
    ) -> tuple[ProductRecord, SessionConfigRecord] | None:
        """``scope`` as ``None`` instead of an error (for verification and refresh)."""
        try:
            return await self.scope(product_tag, env, tag)
        except NotFound:
            return None

    async def resolve_for_create(
        self, product_tag: str, env: str, tag: str, *, origin: Origin = SYSTEM
    ) -> tuple[ProductRecord, SessionConfigRecord]:
        """Product and config a new session belongs to; in development, missing ones
        are provisioned with defaults so the seed's examples run as written."""
        slug(product_tag, "product")
        slug(env, "env")
        slug(tag, "tag")
        if not self.auto_provision:
            return await self.scope(product_tag, env, tag)
        now = self._clock.now()
        # What is missing is created by the store, which drops the cache on the way.
        product = await self._cache.product(product_tag)
        if product is None:
            envs = DEFAULT_ENVS if env in DEFAULT_ENVS else (*DEFAULT_ENVS, env)
            product = await self._store.ensure_product(
                product_tag,
                product_tag,
                envs,
                now,
                event=event(EventType.PRODUCT_CREATED, now, origin, product_tag),
            )
        if env not in product.envs:
            await self._store.ensure_env(product.id, env, now)
        config = await self._cache.config(product.id, tag)
        if config is None:
            config = await self._store.ensure_config(
                product.id,
                _values(ConfigSpec(tag)),
                now,
                event=event(EventType.CONFIG_CREATED, now, origin, product_tag, tag=tag),
            )
        return product, config
