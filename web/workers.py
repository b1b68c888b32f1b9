"""Several uvicorn worker processes on one set of listening sockets: ``tessera serve
--workers N``.

The parent binds the sockets (``server.listen``) and starts the service once before any
worker exists (migrations, the master key and the development admin key are created
there, so workers never race for them), then supervises:

- each worker is a fresh interpreter (``multiprocessing``'s spawn: nothing of the
  parent's threads, event loop or connections is inherited) serving the inherited
  sockets with its own uvicorn ``Server``, its own ``Tessera`` (store connections, SQLite
  group-commit writer or PostgreSQL pool, caches, rate-limit counters);
- a worker that exits while the parent is not stopping is replaced by a new one; one
  that fails its start-up (uvicorn's ``STARTUP_FAILURE`` exit status) stops them all,
  as would every replacement failing the same way;
- ``SIGTERM`` and ``SIGINT`` to the parent are forwarded to every worker as ``SIGTERM``,
  once; each worker then runs uvicorn's graceful shutdown (and whatever shutdown hooks
  the app has), and the parent waits for all of them to exit before it does;
- a worker whose parent is gone (killed with ``SIGKILL``) sends itself ``SIGTERM``
  within a second, so no orphan keeps serving the port.

Nothing else is handled: no reload, no ``SIGHUP`` or ``SIGTTIN``/``SIGTTOU`` resizing."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("tessera")

# Sockets travel to spawned workers by pickling (a duplicated descriptor).
multiprocessing.allow_connection_pickling()
_SPAWN = multiprocessing.get_context("spawn")
# A worker that exits sooner than this after its start counts as failing to start; this
# many such exits in a row stop the parent rather than restart for ever.
QUICK_EXIT_SECONDS = 5.0
MAX_QUICK_EXITS = 5
ORPHAN_CHECK_SECONDS = 1.0


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def _worker(
    server_class: type[uvicorn.Server],
    config: uvicorn.Config,
    sockets: list[socket.socket],
    parent: int,
) -> None:
    """A worker process: one uvicorn server on the parent's sockets."""
    config.configure_logging()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    server = server_class(config)
    server.run(sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class Supervisor:
    """Runs ``workers`` copies of ``server_class`` (uvicorn's ``Server`` or a subclass,
    importable by name: it is pickled to each worker) for ``config`` on ``sockets``
    until ``SIGTERM``/``SIGINT``, replacing any that die."""

    def __init__(
        self,
        config: uvicorn.Config,
        sockets: list[socket.socket],
        workers: int,
        server_class: type[uvicorn.Server] = uvicorn.Server,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self._server_class = server_class
        # Told each worker's pid once it has ended, however (metrics forget its gauges).
        self._on_exit = on_exit
        self._config = config
        self._sockets = sockets
        self._workers = workers
        self._processes: list[BaseProcess] = []
        self._started: dict[int, float] = {}
        self._stopping = threading.Event()

    def _spawn(self) -> BaseProcess:
        process = _SPAWN.Process(
            target=_worker,
            args=(self._server_class, self._config, self._sockets, os.getpid()),
            name="tessera-worker",
        )
        process.start()
        self._started[id(process)] = time.monotonic()
        return process

    def _exited(self, process: BaseProcess) -> None:
        if self._on_exit is not None and process.pid is not None:
            self._on_exit(process.pid)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping.set()

    def run(self) -> int:
        """0 once stopped by a signal; 2 if workers cannot start."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        status = 0
        quick_exits = 0
        try:
            self._processes = [self._spawn() for _ in range(self._workers)]
            while not self._stopping.is_set():
                wait([p.sentinel for p in self._processes], timeout=0.5)
                for index, process in enumerate(self._processes):
                    if process.is_alive() or self._stopping.is_set():
                        continue
                    process.join()
                    self._exited(process)
                    lived = time.monotonic() - self._started.pop(id(process))
                    quick_exits = quick_exits + 1 if lived < QUICK_EXIT_SECONDS else 0
                    if process.exitcode == STARTUP_FAILURE or quick_exits >= MAX_QUICK_EXITS:
                        log.error(
                            "worker %d could not start (exit status %s); stopping",
                            process.pid,
                            process.exitcode,
                        )
                        status = 2
                        self._stopping.set()
                        break
                    log.warning(
                        "worker %d exited (status %s); starting another",
                        process.pid,
                        process.exitcode,
                    )
                    self._processes[index] = self._spawn()
        finally:
            self._stopping.set()
            for process in self._processes:
                if process.is_alive() and process.pid is not None:
                    os.kill(process.pid, signal.SIGTERM)
            for process in self._processes:
                process.join()
                self._exited(process)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status
