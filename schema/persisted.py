"""Persisted documents at the GraphQL layer (service/documents.py): the document text a
request runs (the endpoint asks before executing), the registration of a client's
document once it validated (the operation policy asks after), and the
``registerTrustedDocuments`` result."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from graphql import (
    BREAK,
    DocumentNode,
    ObjectFieldNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)
from strawberry.types.execution import ExecutionContext

from schema.context import Context
from schema.documents import Prepared
from schema.errors import InvalidInputError


async def query_text(
    context: Context, query: str | None, document_id: Any, extensions: dict[str, Any] | None
) -> str | None:
    """The document a request runs: its ``query``, or the one its ``documentId`` or
    ``extensions.persistedQuery`` names. Raises ``DocumentRefused`` when it may run none
    (the endpoint answers it before anything runs)."""
    persisted_query = None if extensions is None else extensions.get("persistedQuery")
    document = await context.tessera.documents.resolve(
        query, document_id, persisted_query, admin=lambda: _admin(context)
    )
    if document is None:
        return query
    if document.register:
        context.unregistered = document
    return document.text


async def register_valid(execution_context: ExecutionContext, prepared: Prepared | None) -> None:
    """Store the document a client sent to register (automatic persisted queries), now
    that it parsed and validated: nothing else is ever stored, nor a document with a
    credential written into it (a token as a literal rather than a variable), which runs
    but would otherwise sit in the database in clear."""
    context: Context = execution_context.context
    document = context.unregistered
    if (
        document is not None
        and prepared is not None
        and not prepared.errors
        and not _holds_credential(prepared.document)
    ):
        await context.tessera.documents.register(document)


CREDENTIALS = frozenset({"token", "refreshToken"})
"""The input fields that carry a credential (``schema.edge.CREDENTIAL``)."""


class _CredentialLiteral(Visitor):
    """Finds a credential field given a literal, or a variable whose default is one
    (variable definitions are visited before the selections that use them)."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False
        self._defaulted: set[str] = set()

    def enter_variable_definition(self, node: VariableDefinitionNode, *_: Any) -> None:
        if node.default_value is not None:
            self._defaulted.add(node.variable.name.value)

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> Any:
        if node.name.value not in CREDENTIALS:
            return None
        value = node.value
        if not isinstance(value, VariableNode) or value.name.value in self._defaulted:
            self.found = True
            return BREAK
        return None


def _holds_credential(document: DocumentNode) -> bool:
    visitor = _CredentialLiteral()
    visit(document, visitor)
    return visitor.found


async def _admin(context: Context) -> bool:
    principal = await context.principal_or_none()
    return principal is not None and principal.is_admin


@strawberry.type(description="The documents a manifest registered as trusted.")
class TrustedDocuments:
    count: int = strawberry.field(description="Documents in the manifest, each trusted now.")


RegisterTrustedDocumentsResult = Annotated[
    TrustedDocuments | InvalidInputError,
    strawberry.union(
        "RegisterTrustedDocumentsResult",
        description="How many documents are trusted now, or every problem of the manifest "
        "(then nothing was registered).",
    ),
]
