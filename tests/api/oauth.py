"""What the OAuth tests share: two products with keys of every kind, and form posts to
``/oauth/introspect`` and ``/oauth/revoke`` over the real ASGI app."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from service.access import ENV_ADMIN_KEY_ID
from service.clock import FrozenClock
from service.tessera import Tessera
from tests.conftest import Api

INTROSPECT, REVOKE = "/oauth/introspect", "/oauth/revoke"
SHOP = {"product": "shop", "env": "prd", "tag": "web"}
SHOP_DEV = {**SHOP, "env": "dev"}
OTHER = {"product": "other", "env": "prd", "tag": "web"}
FORM = "application/x-www-form-urlencoded"
INACTIVE = b'{"active":false}'


@dataclass(frozen=True)
class Client:
    """An OAuth client: an API key and its id."""

    key: str
    key_id: str

    def bearer(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}"}

    def basic(self, client_id: str | None = None) -> dict[str, str]:
        pair = f"{self.key_id if client_id is None else client_id}:{self.key}"
        return {"authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


@dataclass
class World:
    api: Api
    tessera: Tessera
    clock: FrozenClock
    admin: Client
    shop: Client  # a key of product "shop", every env
    shop_prd: Client  # a key of "shop" for env prd only
    other: Client  # a key of product "other"

    async def create(self, scope: dict[str, str] = SHOP, user: str = "u1") -> dict[str, Any]:
        return await self.api.create_session(
            **scope, data={"userId": user, "details": {"email": f"{user}@example.com"}}
        )

    async def verify(self, token: str, scope: dict[str, str] = SHOP) -> dict[str, Any]:
        return await self.api.verify(**scope, token=token)

    async def post(
        self,
        path: str,
        token: str | None,
        headers: dict[str, str] | None = None,
        **fields: str,
    ) -> httpx.Response:
        """A form post of ``token`` (and ``fields``), with the shop key as Bearer unless
        ``headers`` say otherwise."""
        data = {**({} if token is None else {"token": token}), **fields}
        return await self.api.client.post(
            path, data=data, headers=self.shop.bearer() if headers is None else headers
        )

    async def introspect(self, token: str, client: Client | None = None, **fields: str) -> Any:
        response = await self.post(INTROSPECT, token, (client or self.shop).bearer(), **fields)
        assert response.status_code == 200, response.text
        return response.json()


async def key(api: Api, product: str, name: str, envs: list[str] | None = None) -> Client:
    input: dict[str, Any] = {"product": product, "name": name}
    if envs is not None:
        input["envs"] = envs
    created = (await api.op("CreateApiKey", input=input))["createApiKey"]
    assert created["__typename"] == "CreatedApiKey", created
    return Client(created["key"], created["apiKey"]["id"])


async def world(api: Api, tessera: Tessera, clock: FrozenClock) -> World:
    for product in ("shop", "other"):
        await api.op("CreateProduct", input={"tag": product, "name": product})
    assert api.key is not None
    return World(
        api,
        tessera,
        clock,
        admin=Client(api.key, ENV_ADMIN_KEY_ID),
        shop=await key(api, "shop", "shop backend"),
        shop_prd=await key(api, "shop", "shop prd backend", ["prd"]),
        other=await key(api, "other", "other backend"),
    )
