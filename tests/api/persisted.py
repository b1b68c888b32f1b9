"""Requests naming persisted documents, for the tests of automatic persisted queries and
trusted documents: Apollo's protocol as its client speaks it, and Tessera instances of
their own on the test's database."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from server import create_app
from service.clock import FrozenClock
from service.settings import Settings
from service.tessera import Tessera
from tests.conftest import Api

NOT_FOUND = {
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(hash_: str, version: Any = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": hash_}}


async def send(api: Api, body: dict[str, Any], *, key: Any = ...) -> httpx.Response:
    key = api.key if key is ... else key
    headers = {"authorization": f"Bearer {key}"} if key is not None else {}
    return await api.client.post("/graphql", json=body, headers=headers)


async def apq(api: Api, document: str, variables: dict[str, Any] | None = None) -> httpx.Response:
    """What Apollo Client's link does: the hash alone, then with the query if unknown."""
    hash_only = {"variables": variables, "extensions": persisted(sha256(document))}
    response = await send(api, hash_only)
    if response.json() == NOT_FOUND:
        response = await send(api, {**hash_only, "query": document})
    return response


class Instance(Api):
    """A client of a Tessera of its own (its own memory) on the test's database."""

    tessera: Tessera


@asynccontextmanager
async def instance(settings: Settings, clock: FrozenClock) -> AsyncIterator[Instance]:
    tessera = await Tessera.start(settings, clock=clock, announce=lambda key: None)
    transport = httpx.ASGITransport(app=create_app(settings, tessera=tessera))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as http:
            assert settings.admin_key is not None
            api = Instance(http, settings.admin_key.get_secret_value())
            api.tessera = tessera
            yield api
    finally:
        await tessera.close()
