"""SIGNED tokens verified by third-party JOSE libraries from the JWKS alone, as a backend
or gateway would: PyJWT (``PyJWKClient``) and Node's ``jose`` (``createRemoteJWKSet``),
against a real ``tessera serve``, before and after a rotation; a retired key's tokens
fail locally too (its kid is gone from the JWKS)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from service.access import generate_api_key
from tests.gateways.test_gateways import node
from tests.processes import Server, graphql

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SIGNED = {"product": "shop", "env": "prd", "tag": "signed"}


@dataclass
class Issuer:
    server: Server
    admin_key: str
    client: httpx.Client
    issuer: str
    jwks_uri: str

    def create(self, user: str) -> dict[str, Any]:
        data = {"userId": user, "details": {"email": f"{user}@example.com"}}
        created: dict[str, Any] = graphql(
            self.client,
            self.server,
            self.admin_key,
            "CreateSessionWith",
            input={**SIGNED, "data": data},
        )["createSession"]
        assert created["__typename"] == "SessionTokens", created
        return created

    def rotate(self, *, retire_previous: bool = False) -> None:
        rotated = graphql(
            self.client,
            self.server,
            self.admin_key,
            "RotateKeys",
            input={"product": "shop", "env": "prd", "retirePrevious": retire_previous},
        )["rotateKeys"]
        assert rotated["__typename"] == "KeyRing", rotated


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    tmp = tmp_path_factory.mktemp("local-verifiers")
    admin_key = generate_api_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": "production",
            "TESSERA_DATA_DIR": str(tmp),
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "warning",
        }
    )
    server = Server(env, tmp, tmp / "server.log")
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        try:
            server.wait_ready(client)
            graphql(
                client,
                server,
                admin_key,
                "CreateProduct",
                input={"tag": "shop", "name": "Shop", "envs": ["prd"]},
            )
            graphql(
                client,
                server,
                admin_key,
                "CreateSessionConfig",
                input={
                    "product": "shop",
                    "tag": "signed",
                    "name": "Signed",
                    "tokenFormat": "SIGNED",
                    "expiry": 5,
                    "period": "MINUTES",
                },
            )
            metadata = client.get(
                f"{server.url}/.well-known/oauth-authorization-server/products/shop/prd"
            ).json()
            yield Issuer(server, admin_key, client, metadata["issuer"], metadata["jwks_uri"])
        finally:
            server.kill()


def pyjwt_verify(issuer: Issuer, token: str) -> dict[str, Any] | None:
    """The claims PyJWT verifies from the JWKS alone, or ``None`` if it refuses."""
    compact = token.split(":", 1)[1]
    # A fresh client per call, as a verifier whose cache has expired; no proxy.
    keys = jwt.PyJWKClient(issuer.jwks_uri, cache_jwk_set=False, cache_keys=False)
    try:
        key = keys.get_signing_key_from_jwt(compact)
        claims: dict[str, Any] = jwt.decode(
            compact,
            key.key,
            algorithms=["ES256"],
            audience="shop:prd",
            issuer=issuer.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError:
        return None
    return claims


def jose_verify(issuer: Issuer, tokens: list[str], tmp_path: Path) -> list[dict[str, Any]]:
    """What Node's jose says of each token, from the JWKS alone (the README's script)."""
    binary = node()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    results: list[dict[str, Any]] = []
    for token in tokens:
        completed = subprocess.run(
            [binary, str(HERE / "verify_jose.mjs"), issuer.issuer, "shop:prd", token],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if completed.returncode == 0:
            sub, sid, exp = completed.stdout.split()
            results.append({"ok": True, "sub": sub, "sid": sid, "exp": int(exp)})
        else:
            code = (
                "ERR_JWKS_NO_MATCHING_KEY"
                if "ERR_JWKS_NO_MATCHING_KEY" in completed.stderr
                else completed.stderr
            )
            results.append({"ok": False, "error": code})
    return results


def test_pyjwt_verifies_signed_tokens_across_a_rotation_and_refuses_retired_keys(
    issuer: Issuer,
) -> None:
    before = issuer.create("alice")
    claims = pyjwt_verify(issuer, before["token"])
    assert claims is not None and claims["sid"] == before["sessionId"]
    assert claims["sub"] == "alice" and "details" not in claims

    issuer.rotate()
    after = issuer.create("bob")
    for issued in (before, after):
        verified = pyjwt_verify(issuer, issued["token"])
        assert verified is not None and verified["sid"] == issued["sessionId"]

    issuer.rotate(retire_previous=True)
    latest = issuer.create("carol")
    assert pyjwt_verify(issuer, before["token"]) is None
    assert pyjwt_verify(issuer, after["token"]) is None
    assert pyjwt_verify(issuer, latest["token"]) is not None


def test_pyjwt_refuses_a_token_of_another_issuer_or_tampered(issuer: Issuer) -> None:
    issued = issuer.create("dave")
    tag, compact = issued["token"].split(":", 1)
    header, payload, signature = compact.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "mallory"}).encode())
    tampered = f"{tag}:{header}.{forged.rstrip(b'=').decode()}.{signature}"

    assert pyjwt_verify(issuer, tampered) is None
    other = Issuer(
        issuer.server, issuer.admin_key, issuer.client, "https://x.example", issuer.jwks_uri
    )
    assert pyjwt_verify(other, issued["token"]) is None


def test_jose_verifies_signed_tokens_across_a_rotation_and_refuses_retired_keys(
    issuer: Issuer, tmp_path: Path
) -> None:
    node()  # skips (fails on CI) before anything is rotated if Node or jose is missing
    before = issuer.create("erin")
    (first,) = jose_verify(issuer, [before["token"]], tmp_path)
    assert first["ok"] and first["sid"] == before["sessionId"]

    issuer.rotate()
    after = issuer.create("frank")
    results = jose_verify(issuer, [before["token"], after["token"]], tmp_path)
    assert [r["ok"] for r in results] == [True, True]
    assert [r["sid"] for r in results] == [before["sessionId"], after["sessionId"]]

    issuer.rotate(retire_previous=True)
    latest = issuer.create("grace")
    results = jose_verify(issuer, [before["token"], after["token"], latest["token"]], tmp_path)
    assert [r["ok"] for r in results] == [False, False, True]
    assert results[0]["error"] == "ERR_JWKS_NO_MATCHING_KEY"
