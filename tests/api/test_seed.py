"""The seed document's examples, as written, through the HTTP endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.operations import operation

# Verbatim from "Generating Session Tokens" (shared/seed/000_4f8d8f73a0b6082b.txt).
SEED_EXAMPLES: list[dict[str, Any]] = [
    {
        "product": "my-app",
        "env": "prd",
        "tag": "user-session",
        "data": {
            "userId": "user_123",
            "details": {"username": "johndoe", "email": "john@example.com"},
        },
    },
    {
        "product": "ecommerce",
        "env": "prd",
        "tag": "checkout-session",
        "data": {"userId": "user_456", "details": {"email": "jane@example.com"}},
    },
    {
        "product": "dashboard",
        "env": "prd",
        "tag": "user-session",
        "data": {
            "userId": "user_789",
            "details": {
                "username": "jsmith",
                "email": "jsmith@company.com",
                "role": "admin",
                "plan": "enterprise",
            },
        },
    },
    {
        "product": "marketplace",
        "env": "prd",
        "tag": "checkout-flow",
        "data": {"userId": "user_123", "details": {"cartId": "cart_456"}},
    },
    {
        "product": "marketplace",
        "env": "prd",
        "tag": "support-chat",
        "data": {"userId": "user_123", "details": {"ticketId": "ticket_789"}},
    },
]


@pytest.mark.parametrize("example", SEED_EXAMPLES, ids=lambda e: f"{e['product']}-{e['tag']}")
async def test_seed_example_creates_verifiable_session(api: Api, example: dict[str, Any]) -> None:
    result = await api.create_session(**example)

    assert result["__typename"] == "SessionTokens"
    assert result["token"].startswith(f"{example['tag']}:")
    session_id, _, secret = result["refreshToken"].partition(":")
    assert session_id.startswith(result["sessionId"]) and len(secret) >= 43

    verified = await api.verify(
        product=example["product"], env=example["env"], tag=example["tag"], token=result["token"]
    )
    assert verified["valid"] is True
    assert verified["sessionId"] == result["sessionId"]
    assert verified["data"] == example["data"]


async def test_seed_quick_example_document_runs_as_written(api: Api) -> None:
    body = await api.post(operation("CreateSession"))

    tokens = body["data"]["createSession"]
    assert set(tokens) == {"token", "refreshToken", "sessionId", "expiresAt", "refreshExpiresAt"}
    assert tokens["token"].startswith("user-session:")


async def test_seed_flows_are_separate_sessions_for_one_user(api: Api) -> None:
    checkout, support = SEED_EXAMPLES[3], SEED_EXAMPLES[4]
    a = await api.create_session(**checkout)
    b = await api.create_session(**support)

    assert a["sessionId"] != b["sessionId"]
    # A checkout token is not a support-chat token.
    crossed = await api.verify(
        product="marketplace", env="prd", tag="support-chat", token=a["token"]
    )
    assert crossed == {**crossed, "valid": False, "reason": "WRONG_SESSION"}
