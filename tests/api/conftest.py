from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.processes import Server, client_fixture, servers_fixture


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers started by the test; every one is killed at teardown, whatever happened."""
    yield from servers_fixture()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A loopback HTTP client that never goes through a proxy from the environment."""
    yield from client_fixture()
