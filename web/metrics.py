"""``GET /metrics``: the Prometheus exposition of service/metrics.py, for loopback
clients and holders of ``TESSERA_METRICS_TOKEN``; and the multiprocess directory several
worker processes share.

With several workers each process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and whichever worker a scrape reaches sums them all
(prometheus_client's multiprocess mode). The variable must be set before the workers
import anything, so the process that starts them calls ``prepare_workers`` first, and
``worker_exited`` for each one that ends; a worker that stops by itself says so
(``process_stopped``, at the end of the app's lifespan)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import tempfile
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, values
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response

from schema.context import client_ip, is_trusted_proxy
from service.metrics import sample_pool
from service.settings import Settings
from web.refusals import refusal

log = logging.getLogger("tessera.metrics")

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Headers saying the request was forwarded: a proxy on this machine that nobody listed in
# TESSERA_TRUSTED_PROXIES still makes its clients look like loopback, but it names them.
_FORWARDING = ("x-forwarded-for", "forwarded", "x-real-ip")
FORBIDDEN = "/metrics is open to loopback clients only; others need TESSERA_METRICS_TOKEN"


def multiprocess_dir() -> str | None:
    """The shared directory when several processes serve, else ``None``."""
    return os.environ.get(MULTIPROC_DIR) or None


class MetricsEndpoint:
    """``GET /metrics`` under ``settings``' access rule."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def handle(self, request: Request) -> Response:
        if not allowed(request, self.settings):
            return refusal(request.scope, 403, FORBIDDEN)
        return exposition(request)


def exposition(request: Request) -> Response:
    """The metrics, summed over every worker process when there are several."""
    sample_pool(request.app.state.tessera.store)
    directory = multiprocess_dir()
    if directory is None:
        registry = REGISTRY
    else:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    # The format Prometheus asks for (text, or OpenMetrics), as the library negotiates it.
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), headers={"content-type": content_type})


def allowed(request: Request, settings: Settings) -> bool:
    """A bearer equal to ``TESSERA_METRICS_TOKEN`` (compared in constant time), or a
    client on loopback: the address Tessera settles on (``TESSERA_TRUSTED_PROXIES``
    decide, as for every request) is a loopback one, and a request from a peer that is
    not a trusted proxy names no other origin in a forwarding header."""
    token = settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return True
    proxies = settings.trusted_proxies
    try:
        loopback = ipaddress.ip_address(client_ip(request, proxies)).is_loopback
    except ValueError:
        return False
    if not loopback:
        return False
    peer = request.client.host if request.client else ""
    if is_trusted_proxy(peer, proxies):
        return True
    return not any(name in request.headers for name in _FORWARDING)


def prepare_workers() -> Path:
    """Before starting worker processes: an empty multiprocess directory, named in
    ``PROMETHEUS_MULTIPROC_DIR`` for them to inherit — the operator's, emptied of the
    files of an earlier run, or a new temporary one."""
    given = multiprocess_dir()
    if given is None:
        directory = Path(tempfile.mkdtemp(prefix="tessera-metrics-"))
        os.environ[MULTIPROC_DIR] = str(directory)
    else:
        directory = Path(given)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    return directory


def worker_exited(pid: int) -> None:
    """A worker process ended (however): its gauges stop counting; its counters stay in
    the sums, as counters must."""
    directory = multiprocess_dir()
    if directory is not None:
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def process_stopped() -> None:
    """This process is done serving (``worker_exited`` for itself)."""
    worker_exited(os.getpid())


def check_mode() -> None:
    """Warn when ``PROMETHEUS_MULTIPROC_DIR`` is set but the metrics were made before it
    was (this process would report its own values only)."""
    if multiprocess_dir() is not None and not getattr(values.ValueClass, "_multiprocess", False):
        log.warning(
            "%s was set after the metrics were created: /metrics shows this process only",
            MULTIPROC_DIR,
        )
