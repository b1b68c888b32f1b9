"""Every string Tessera stores has one limit, the same on SQLite and PostgreSQL, enforced
before the store with a typed error. PostgreSQL refused an identifier
longer than its index row (about 2.7 kB) with an error of its own, a 500, where SQLite
took it; at the limit, in four-byte characters, both take it and find it again."""

from __future__ import annotations

import random
import string
from typing import Any

from service.validation import MAX_NAME_LENGTH, MAX_STRING_LENGTH, MAX_TEXT_LENGTH
from tests.conftest import Api

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
WIDE = "😀"  # four bytes in UTF-8
SELECTOR_PREFIX = "$Session{details."
# What PostgreSQL cannot compress under its index row limit, as an e-mail address might be.
INCOMPRESSIBLE = "".join(random.Random(6).choices(string.ascii_letters + string.digits, k=3000))


async def configure(api: Api, selector: str) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    created = await api.op(
        "CreateSessionConfig",
        input={"product": "shop", "tag": "web", "name": "Web", "selector": selector},
    )
    assert created["createSessionConfig"]["__typename"] == "SessionConfig", created


async def refusal(api: Api, mutation: str, input_type: str, input: dict[str, Any]) -> Any:
    """``(code, field)`` of the ``InvalidInputError`` a mutation answers, or its type."""
    document = (
        f"mutation($input: {input_type}!) {{ {mutation}(input: $input) "
        "{ __typename ... on InvalidInputError { code field } } }"
    )
    result = (await api.post(document, {"input": input}))["data"][mutation]
    return (result["code"], result["field"]) if "code" in result else result["__typename"]


async def test_identifier_over_the_limit_is_invalid_input_on_both_databases(api: Api) -> None:
    await configure(api, "$Session{details.email}")
    answers = []

    for email in (INCOMPRESSIBLE, WIDE * (MAX_STRING_LENGTH + 1), 10**300, "a\x00b", "tab\tbed"):
        data = {"userId": "u", "details": {"email": email}}
        answers.append(
            await refusal(api, "createSession", "CreateSessionInput", {**SCOPE, "data": data})
        )

    assert answers == [("INVALID_INPUT", "data.details.email")] * 5


async def test_identifier_at_the_limit_is_stored_and_found(api: Api) -> None:
    await configure(api, "$Session{details.email}")
    email = WIDE * MAX_STRING_LENGTH

    issued = await api.create_session(**SCOPE, data={"userId": "u", "details": {"email": email}})
    listed = await api.op("ActiveSessions", **SCOPE, identifier=email)

    assert issued["__typename"] == "SessionTokens", issued
    assert [e["node"]["id"] for e in listed["activeSessions"]["edges"]] == [issued["sessionId"]]


async def test_stored_strings_at_their_limit_round_trip_on_both_databases(api: Api) -> None:
    product_name = WIDE * MAX_NAME_LENGTH
    key = "k" * (MAX_STRING_LENGTH - len(SELECTOR_PREFIX) - 1)
    config = {
        "product": "shop",
        "tag": "t" * 64,
        "name": WIDE * MAX_NAME_LENGTH,
        "description": WIDE * MAX_TEXT_LENGTH,
        "selector": f"{SELECTOR_PREFIX}{key}}}",
    }
    user_id = WIDE * MAX_STRING_LENGTH

    product = await api.op("CreateProduct", input={"tag": "shop", "name": product_name})
    created = await api.op("CreateSessionConfig", input=config)
    issued = await api.create_session(
        product="shop", env="prd", tag=config["tag"], data={"userId": user_id, "details": {key: 1}}
    )
    api_key = await api.op("CreateApiKey", input={"product": "shop", "name": product_name})

    assert product["createProduct"]["name"] == product_name
    assert {k: created["createSessionConfig"][k] for k in config if k != "product"} == {
        k: v for k, v in config.items() if k != "product"
    }
    verified = await api.verify(product="shop", env="prd", tag=config["tag"], token=issued["token"])
    assert verified["data"]["userId"] == user_id
    assert api_key["createApiKey"]["apiKey"]["name"] == product_name


async def test_stored_strings_over_their_limit_are_invalid_input_on_both_databases(
    api: Api,
) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    over = MAX_STRING_LENGTH + 1
    config = {"product": "shop", "tag": "web", "name": "Web"}
    cases: dict[str, tuple[str, str, dict[str, Any], str]] = {
        "product name": (
            "createProduct",
            "CreateProductInput",
            {"tag": "other", "name": WIDE * (MAX_NAME_LENGTH + 1)},
            "name",
        ),
        "env": (
            "createProduct",
            "CreateProductInput",
            {"tag": "o", "name": "O", "envs": ["e" * 65]},
            "envs.0",
        ),
        "config name": (
            "createSessionConfig",
            "CreateSessionConfigInput",
            {**config, "name": WIDE * (MAX_NAME_LENGTH + 1)},
            "name",
        ),
        "description": (
            "createSessionConfig",
            "CreateSessionConfigInput",
            {**config, "description": WIDE * (MAX_TEXT_LENGTH + 1)},
            "description",
        ),
        "selector": (
            "createSessionConfig",
            "CreateSessionConfigInput",
            {**config, "selector": SELECTOR_PREFIX + "k" * over + "}"},
            "selector",
        ),
        "user id": (
            "createSession",
            "CreateSessionInput",
            {**SCOPE, "data": {"userId": WIDE * over, "details": {}}},
            "data.userId",
        ),
        "api key name": (
            "createApiKey",
            "CreateApiKeyInput",
            {"product": "shop", "name": WIDE * (MAX_NAME_LENGTH + 1)},
            "name",
        ),
    }
    answers = {}

    for case, (mutation, input_type, input, _) in cases.items():
        answers[case] = await refusal(api, mutation, input_type, input)

    assert answers == {case: ("INVALID_INPUT", c[3]) for case, c in cases.items()}
    products = await api.op("Products")
    assert [p["tag"] for p in products["products"]] == ["shop"]  # nothing half-stored
