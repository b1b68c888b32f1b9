"""Assembly of the service: settings in, a ready ``Tessera`` out."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Callable
from pathlib import Path

from service import datakeys
from service.access import Access
from service.cache import Cache
from service.catalog import Catalog
from service.clock import Clock, SystemClock
from service.counters import VerificationCounts
from service.crypto import MasterKey
from service.details import KEY_ID, DetailsCipher
from service.documents import PersistedDocuments, TrustedDocuments, builtin_documents
from service.errors import StartupError
from service.events import EventLog
from service.housekeeping import Sweeper
from service.introspection import Introspection
from service.keyring import KeyRings
from service.metrics import GROUP_COMMIT_BATCH
from service.ratelimit import Bucket, RateLimits
from service.rotation import KeyRotation
from service.sessions import Sessions
from service.settings import Settings, decode_master_key
from service.users import Users
from store import Store, StoreUnavailable, open_store

log = logging.getLogger("tessera")

# Registered as trusted documents at every start.
OPERATIONS = Path(__file__).resolve().parents[1] / "graphql" / "operations"


def _load_master_key(settings: Settings) -> MasterKey:
    if settings.master_key is not None:
        previous = settings.master_key_previous
        return MasterKey(
            decode_master_key(settings.master_key.get_secret_value()),
            None if previous is None else decode_master_key(previous.get_secret_value()),
        )
    path = settings.master_key_file
    if path.exists():
        try:
            return MasterKey(decode_master_key(path.read_text()))
        except OSError as exc:
            raise StartupError(
                "TESSERA_DATA_DIR", f"cannot read the master key file {path}: {_reason(exc)}"
            ) from None
        except ValueError:
            raise StartupError(
                "TESSERA_DATA_DIR", f"{path} does not hold a valid master key"
            ) from None
    raw = os.urandom(32)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise StartupError(
            "TESSERA_DATA_DIR", f"cannot create the master key file {path}: {_reason(exc)}"
        ) from None
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(raw).decode() + "\n")
    log.warning(
        "generated a development master key in %s; set TESSERA_MASTER_KEY in production",
        path,
    )
    return MasterKey(raw)


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def database_setting(settings: Settings) -> str:
    """The variable that names the database: the URL's, or by default the data dir's."""
    url = settings.database_url
    return "TESSERA_DATABASE_URL" if url and url.get_secret_value() else "TESSERA_DATA_DIR"


def open_database(settings: Settings) -> Store:
    """The configured store, opened but not migrated; a bad URL is a ``StartupError``."""
    try:
        return open_store(settings.resolved_database_url, on_batch=GROUP_COMMIT_BATCH.observe)
    except (ValueError, StoreUnavailable) as exc:
        raise StartupError(database_setting(settings), str(exc)) from None


async def migrate(settings: Settings) -> int:
    """Apply pending migrations to the configured database; its schema version after."""
    store = open_database(settings)
    try:
        return await store.migrate()
    except StoreUnavailable as exc:
        raise StartupError(database_setting(settings), str(exc)) from None
    finally:
        await store.close()


def check_production(settings: Settings) -> None:
    missing = [
        name
        for name, value in (
            ("TESSERA_MASTER_KEY", settings.master_key),
            ("TESSERA_ADMIN_KEY", settings.admin_key),
        )
        if value is None
    ]
    if settings.production and missing:
        raise StartupError(" and ".join(missing), "required in production mode")


class Tessera:
    """The service as the API layer sees it."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        master_key: MasterKey,
        *,
        details_key: bytes | None = None,
        refresh_key: bytes | None = None,
    ) -> None:
        """``details_key`` and ``refresh_key``: the stored data keys (``start`` reads
        them); derived from ``master_key`` when not given."""
        self.settings = settings
        self.store = store
        self.clock = clock
        self.cache = Cache(store, clock, recheck_seconds=settings.cache_recheck_seconds)
        self.catalog = Catalog(store, clock, self.cache, auto_provision=not settings.production)
        self.master_key = master_key
        self.keyrings = KeyRings(store, master_key, clock)
        self.verification_counts = VerificationCounts(store, clock)
        self.events = EventLog(store)
        self.cache.on_drop(self.keyrings.invalidate)
        self.rotation = KeyRotation(
            store,
            self.catalog,
            self.keyrings,
            clock,
            propagation_seconds=settings.cache_recheck_seconds,
        )
        self.sessions = Sessions(
            store,
            self.catalog,
            self.keyrings,
            clock,
            refresh_key=refresh_key or master_key.derive(datakeys.REFRESH.info),
            details_cipher=DetailsCipher(
                {KEY_ID: details_key or master_key.derive(datakeys.DETAILS.info)}, KEY_ID
            ),
            max_details_bytes=settings.max_details_bytes,
            max_token_length=settings.max_token_length,
            refresh_grace_seconds=settings.refresh_grace_seconds,
            issuer_base=settings.public_base_url,
            counts=self.verification_counts,
        )
        self.users = Users(
            store, self.catalog, clock, details_cipher=DetailsCipher.for_master(master_key)
        )
        admin_key = settings.admin_key.get_secret_value() if settings.admin_key else None
        self.access = Access(store, clock, self.cache, self.catalog, self.sessions, admin_key)
        self.rate_limits = RateLimits(
            {
                Bucket.FAILED_AUTH_PER_IP: settings.rate_limit_failed_auth_per_ip,
                Bucket.FAILED_TOKENS_PER_CREDENTIAL: (
                    settings.rate_limit_failed_tokens_per_credential
                ),
                Bucket.VERIFY_PER_CREDENTIAL: settings.rate_limit_verify_per_credential,
                Bucket.REFRESH_PER_IP: settings.rate_limit_refresh_per_ip,
                Bucket.REFRESH_PER_SESSION: settings.rate_limit_refresh_per_session,
            }
        )
        self.documents = PersistedDocuments(
            store,
            clock,
            mode=TrustedDocuments(settings.trusted_documents),
            max_registered=settings.max_persisted_queries,
            max_bytes=settings.max_body_bytes,
        )
        self.sweeper = Sweeper(
            store,
            clock,
            retention=settings.session_retention_seconds,
            batch_size=settings.sweep_batch_size,
            event_retention=settings.event_retention_seconds,
            rotation=self.rotation,
            rotation_age=settings.key_rotation_days * 86_400,
        )
        self.introspection = Introspection(self.access, self.sessions, self.rate_limits)

    def __repr__(self) -> str:
        return f"Tessera(mode={self.settings.mode!r})"

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        announce: Callable[[str], None] | None = None,
        bootstrap_admin: bool = True,
    ) -> Tessera:
        """Open and migrate the store, load the master key and make sure an admin key
        exists. In development a missing admin key is generated and ``announce``d once."""
        check_production(settings)
        store = open_database(settings)
        try:
            await store.migrate()
            # Only once the database works: in development this may generate the key.
            master = _load_master_key(settings)
            source = "TESSERA_MASTER_KEY" if settings.master_key else "TESSERA_DATA_DIR"
            origin = await datakeys.database_master(store, master, source)
            tessera = cls(
                settings,
                store,
                clock or SystemClock(),
                master,
                details_key=await datakeys.load(store, master, origin, datakeys.DETAILS),
                refresh_key=await datakeys.load(store, master, origin, datakeys.REFRESH),
            )
            await tessera.sessions.seal_stored_details()
            await tessera.documents.register_builtin(builtin_documents(OPERATIONS))
            if bootstrap_admin and not await tessera.access.has_admin_key():
                key, _ = await tessera.access.create_admin_key("development admin")
                (announce or _print_banner)(key)
        except StoreUnavailable as exc:
            await store.close()
            raise StartupError(database_setting(settings), str(exc)) from None
        except BaseException:
            await store.close()
            raise
        return tessera

    async def rotate_master_key(self) -> int:
        """Re-wrap every key ring and data key under the current master key (the
        previous one, ``TESSERA_MASTER_KEY_PREVIOUS``, still opens what it wrapped); the
        number of values re-wrapped. Running it again finishes an interrupted run."""
        return await self.keyrings.rewrap_all() + await datakeys.rotate(self.store, self.master_key)

    async def close(self) -> None:
        try:
            await self.verification_counts.flush()
        except Exception:
            log.exception("flushing verification counts at shutdown failed")
        await self.store.close()


def _print_banner(key: str) -> None:
    # Printed to the terminal once, never logged: this is the only copy of the key.
    bar = "=" * 72
    print(
        f"\n{bar}\nTessera development admin key (shown once, keep it):\n\n    {key}\n\n"
        "Send it as the header  Authorization: Bearer <the key above>\n"
        f"{bar}\n",
        flush=True,
    )
