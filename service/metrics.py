"""The service's Prometheus metrics, in plain Python: what the service counts as it works
(sessions, verifications, rate-limit refusals, the store's batches and pool), and what the
layers above report through the functions here (GraphQL operations, refused requests,
open subscriptions). web/metrics.py serves them.

Labels take values from fixed sets only (root field names, error codes, causes), never
from what a request carries, so the number of series stays bounded. Each labelled child
is looked up once and kept: a request pays a dictionary lookup and the library's lock
and add, nothing more.

With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set before this module is
imported) every value lives in a per-process file and a scrape sums them; the gauges
say how they add up across processes (``multiprocess_mode``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, runtime_checkable

from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger("tessera.metrics")

# Seconds: from a cached verifySession (about a millisecond) to a slow PostgreSQL write.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Writes per group commit; the committer's MAX_BATCH is 256.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

OPERATIONS = Counter(
    "tessera_graphql_operations",
    "GraphQL operations run, by operation (its root field; `multiple`, `introspection` "
    "or `other`) and outcome (`ok` or the error code)",
    ["operation", "outcome"],
)
OPERATION_SECONDS = Histogram(
    "tessera_graphql_operation_duration_seconds",
    "Time to run a GraphQL operation, from its document's checks to its result, by "
    "operation and outcome",
    ["operation", "outcome"],
    buckets=LATENCY_BUCKETS,
)
REFUSED = Counter(
    "tessera_http_refused",
    "Requests to /graphql refused before any operation ran, by HTTP status",
    ["status"],
)
SESSIONS_CREATED = Counter("tessera_sessions_created", "Sessions started")
SESSIONS_REFRESHED = Counter(
    "tessera_sessions_refreshed", "Refresh tokens redeemed for a new session token"
)
SESSIONS_REVOKED = Counter(
    "tessera_sessions_revoked",
    "Sessions revoked, by cause (`revoked`: revokeSession or logout; `logout_others`; "
    "`refresh_token_reused`: theft detected)",
    ["cause"],
)
SESSIONS_SWEPT = Counter(
    "tessera_sessions_swept", "Ended sessions deleted after their retention period"
)
VERIFICATIONS = Counter(
    "tessera_verifications",
    "Session tokens checked (verifySession, and end users' bearer tokens), by result "
    "(`valid` or the reason it is not)",
    ["result"],
)
RATE_LIMITED = Counter(
    "tessera_rate_limited", "Requests refused by a rate limit, by bucket", ["bucket"]
)
GROUP_COMMIT_BATCH = Histogram(
    "tessera_group_commit_batch_size",
    "Writes committed together in one SQLite transaction (one fsync)",
    buckets=BATCH_BUCKETS,
)
POOL_SIZE = Gauge(
    "tessera_db_pool_connections",
    "PostgreSQL connections open in the pool",
    multiprocess_mode="livesum",
)
POOL_IN_USE = Gauge(
    "tessera_db_pool_connections_in_use",
    "PostgreSQL connections of the pool running a statement",
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "tessera_db_pool_max_connections",
    "The pool's upper bound (max_size), summed over processes",
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS = Gauge(
    "tessera_subscriptions_open",
    "GraphQL subscriptions open",
    multiprocess_mode="livesum",
)

_operations: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
_verifications: dict[str | None, Counter] = {}


def operation_done(operation: str, outcome: str, seconds: float) -> None:
    """Count one GraphQL operation and its duration. ``operation`` and ``outcome`` must
    come from fixed sets (schema/metrics.py makes sure)."""
    children = _operations.get((operation, outcome))
    if children is None:
        children = _operations[operation, outcome] = (
            OPERATIONS.labels(operation, outcome),
            OPERATION_SECONDS.labels(operation, outcome),
        )
    children[0].inc()
    children[1].observe(seconds)


def refused(status: int) -> None:
    """Count a request refused before any operation ran."""
    REFUSED.labels(str(status)).inc()


def verified(reason: str | None) -> None:
    """Count a token checked: ``None`` when valid, else its (coarse) reason."""
    child = _verifications.get(reason)
    if child is None:
        child = _verifications[reason] = VERIFICATIONS.labels(reason or "valid")
    child.inc()


def revoked(cause: str, count: int) -> None:
    """Count ``count`` sessions revoked for ``cause`` (the revocation reason stored)."""
    if count:
        SESSIONS_REVOKED.labels(cause).inc(count)


def subscription_opened() -> None:
    """A subscription started (call ``subscription_closed`` when it ends, however)."""
    SUBSCRIPTIONS.inc()


def subscription_closed() -> None:
    SUBSCRIPTIONS.dec()


@runtime_checkable
class Pooled(Protocol):
    """A store with a connection pool (PostgreSQL)."""

    def pool_usage(self) -> tuple[int, int, int] | None:
        """(open, in use, max) connections, or ``None`` before the pool exists."""
        ...


def sample_pool(store: object) -> None:
    """Set the pool gauges from ``store``'s pool, if it has one."""
    if not isinstance(store, Pooled):
        return
    usage = store.pool_usage()
    if usage is None:
        return
    size, in_use, maximum = usage
    POOL_SIZE.set(size)
    POOL_IN_USE.set(in_use)
    POOL_MAX.set(maximum)


async def sample_every(store: object, interval: float) -> None:
    """Sample the pool every ``interval`` seconds until cancelled (each worker process
    runs this: a scrape reads every process's last sample)."""
    while True:
        try:
            sample_pool(store)
        except Exception:  # a metric must never take the service down
            log.exception("sampling the database pool failed")
        await asyncio.sleep(interval)
