"""GraphQL documents from graphql/operations/, read exactly as a client would paste them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

OPERATIONS = Path(__file__).resolve().parents[1] / "graphql" / "operations"


@cache
def operation(name: str) -> str:
    """The document ``graphql/operations/<name>.graphql``, as written."""
    return (OPERATIONS / f"{name}.graphql").read_text()
