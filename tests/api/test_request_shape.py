"""Request shapes refused before any GraphQL work: content types, field floods, requests
that name no single operation."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.operations import operation


@pytest.mark.parametrize(
    "content_type",
    ["text/plain, application/json", "application/jsonp", "application/json-seq", "text/plain"],
)
async def test_post_content_type_other_than_json_is_415(api: Api, content_type: str) -> None:
    response = await api.client.post(
        "/graphql",
        content='{"query": "{ __typename }"}',
        headers={"content-type": content_type, "authorization": f"Bearer {api.key}"},
    )

    assert response.status_code == 415


async def test_post_json_with_charset_is_accepted(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        content='{"query": "{ __typename }"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )

    assert response.json() == {"data": {"__typename": "Query"}}


async def test_repeated_fields_are_refused_before_validation(api: Api) -> None:
    flood = "{" + " ".join(["products { tag }"] * 490) + "}"

    body = await api.post(flood)

    # The field count refuses it: validation (the quadratic overlapping-fields rule)
    # never ran, or its errors would be listed here instead.
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_REQUEST"]
    assert "more than 150 fields" in body["errors"][0]["message"]


async def test_documented_operations_are_within_the_field_limit(api: Api) -> None:
    body = await api.post(operation("ActiveSessions"), {"product": "p", "env": "e", "tag": "t"})

    assert "BAD_REQUEST" not in str(body)


@pytest.mark.parametrize(
    "named", [{}, {"operationName": "Missing"}], ids=["none-named", "unknown-named"]
)
async def test_request_naming_no_single_operation_is_400_and_runs_nothing(
    api: Api, named: dict[str, str]
) -> None:
    # GraphQL over HTTP: with several operations the request must name one; running the
    # first would run a query where the client may have meant the mutation.
    document = operation("Products") + operation("CreateProduct")
    payload = {"query": document, "variables": {"input": {"tag": "shop", "name": "Shop"}}}

    response = await api.client.post(
        "/graphql",
        json={**payload, **named},
        headers={"authorization": f"Bearer {api.key}"},
    )

    assert response.status_code == 400
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_REQUEST"]
    assert await api.op("Products") == {"products": []}
