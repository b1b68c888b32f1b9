"""GraphiQL, served at ``/graphql`` in development."""

from __future__ import annotations

from pathlib import Path

from schema.engine import graphiql_page

OPERATIONS = Path(__file__).resolve().parents[1] / "graphql" / "operations"


def graphiql_html() -> str:
    """Strawberry's GraphiQL page with the seed's createSession example preloaded and a
    header template for the admin key."""
    example = (OPERATIONS / "CreateSession.graphql").read_text()
    return graphiql_page(example, {"Authorization": "Bearer <paste your admin key>"})
