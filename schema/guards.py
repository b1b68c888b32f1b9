"""Limits on what a document may ask for: depth, aliases, directives, tokens, and
introspection in production. Each refusal is one ``Refusal`` error with its code
(``BAD_REQUEST`` for a limit, ``GRAPHQL_VALIDATION_FAILED`` for introspection).

The validation rules are built once per set of limits and reused, so the validation
cache (keyed by the rule tuple) keeps hitting; constructing Strawberry's
``QueryDepthLimiter``/``MaxAliasesLimiter`` per request would defeat it.

Depth and aliases are measured here rather than by Strawberry's validators, which walk a
fragment again at every spread, which is exponential in nested spreads (a 540-byte
document of nine fragments each spreading the next five times held the event loop for
2.4 s, and each further level multiplies that), and a spread of an unknown fragment made
the depth validator raise a ``KeyError``. Here every fragment is
measured once and unknown or cyclic spreads count as nothing (graphql-core's own rules
report them)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
)
from graphql.language.visitor import BREAK
from strawberry.types.execution import ExecutionContext

from service.errors import RequestErrorCode
from service.settings import Settings


class Refusal(GraphQLError):
    """A document refused by a limit or by the introspection rule. A refused document
    is answered with its refusals alone (schema/documents.py): whatever else is wrong
    with it is beside the point, and in production would describe the schema."""

    def __init__(self, message: str, node: Node | None, code: RequestErrorCode) -> None:
        super().__init__(message, node, extensions={"code": code})


def _limit(message: str, node: Node | None = None) -> Refusal:
    return Refusal(message, node, RequestErrorCode.BAD_REQUEST)


class _Measure:
    """Depth and alias count of selection sets, each fragment measured once."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._depths: dict[str, int] = {}
        self._aliases: dict[str, int] = {}
        self._visiting: set[str] = set()

    def _fragment(
        self, name: str, memo: dict[str, int], measure: Callable[[SelectionSetNode], int]
    ) -> int:
        if name in memo:
            return memo[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._visiting:
            return 0
        self._visiting.add(name)
        try:
            memo[name] = measure(fragment.selection_set)
        finally:
            self._visiting.discard(name)
        return memo[name]

    def depth(self, selection_set: SelectionSetNode) -> int:
        """Levels of fields with selections below ``selection_set``. Introspection
        fields are not counted (as in Strawberry's ``QueryDepthLimiter``): standard
        introspection queries nest ``ofType`` deeper than any sensible limit, and
        graphql-core's ``MaxIntrospectionDepthRule`` bounds circular introspection."""
        deepest = 0
        for selection in selection_set.selections:
            found = 0
            if isinstance(selection, FieldNode):
                introspection = selection.name.value.startswith("__")
                if selection.selection_set is not None and not introspection:
                    found = 1 + self.depth(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                found = self.depth(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                found = self._fragment(selection.name.value, self._depths, self.depth)
            deepest = max(deepest, found)
        return deepest

    def aliases(self, selection_set: SelectionSetNode) -> int:
        """Aliased fields below ``selection_set``, a fragment's counted at each spread."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += selection.alias is not None
                if selection.selection_set is not None:
                    total += self.aliases(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += self.aliases(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, self._aliases, self.aliases)
        return total


def depth_validator(max_depth: int) -> type[ASTValidationRule]:
    class MaxDepth(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            measure = _Measure(context.document)
            for definition in context.document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                if measure.depth(definition.selection_set) > max_depth:
                    name = definition.name.value if definition.name else "anonymous"
                    self.report_error(
                        _limit(
                            f"'{name}' exceeds maximum operation depth of {max_depth}",
                            definition,
                        )
                    )

    return MaxDepth


def aliases_validator(max_aliases: int) -> type[ASTValidationRule]:
    class MaxAliases(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            measure = _Measure(context.document)
            total = sum(
                measure.aliases(d.selection_set)
                for d in context.document.definitions
                if isinstance(d, OperationDefinitionNode)
            )
            if total > max_aliases:
                self.report_error(_limit(f"{total} aliases found. Allowed: {max_aliases}"))

    return MaxAliases


def directives_validator(max_directives: int) -> type[ASTValidationRule]:
    class MaxDirectives(ASTValidationRule):
        """Repeated directives are a cheap way to make a server do work per node."""

        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.count = 0

        def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
            self.count += 1
            if self.count == max_directives + 1:
                self.report_error(
                    _limit(f"the document uses more than {max_directives} directives", node)
                )

    return MaxDirectives


class NoIntrospection(ASTValidationRule):
    """Introspection refused with one error. graphql-core's
    ``NoSchemaIntrospectionCustomRule`` reports every field of an introspection type,
    39 errors for a standard introspection query. ``__schema`` and ``__type`` are the
    only ways in (elsewhere they are unknown fields), with federation's ``_service``,
    whose ``sdl`` is the whole schema; ``__typename`` is not introspection of the
    schema, and clients add it everywhere."""

    def enter_field(self, node: FieldNode, *_args: Any) -> Any:
        if node.name.value not in ("__schema", "__type", "_service"):
            return None
        self.report_error(
            Refusal(
                "GraphQL introspection is not allowed for this caller, but the document "
                f"asks for {node.name.value}",
                node,
                RequestErrorCode.GRAPHQL_VALIDATION_FAILED,
            )
        )
        return BREAK


@cache
def rules(
    max_depth: int, max_aliases: int, max_directives: int, introspection: bool
) -> tuple[type[ASTValidationRule], ...]:
    """The extra validation rules for one set of limits (built once, then shared)."""
    built: list[type[ASTValidationRule]] = [
        depth_validator(max_depth),
        aliases_validator(max_aliases),
        directives_validator(max_directives),
    ]
    if not introspection:
        built.append(NoIntrospection)
    return tuple(built)


async def apply_limits(execution_context: ExecutionContext) -> None:
    """Set the running settings' limits on the operation, for its parsing and
    validation (schema/documents.py)."""
    context = execution_context.context
    settings: Settings = context.tessera.settings
    introspection = not settings.production
    if not introspection:
        principal = await context.principal_or_none()
        introspection = principal is not None and principal.is_admin
    execution_context.parse_options["max_tokens"] = settings.max_query_tokens
    execution_context.validation_rules = execution_context.validation_rules + rules(
        settings.max_query_depth, settings.max_aliases, settings.max_directives, introspection
    )


def count_fields(document: DocumentNode, limit: int) -> int:
    """Field nodes in ``document``, counting stops once past ``limit``."""
    count = 0
    stack: list[Any] = list(document.definitions)
    while stack and count <= limit:
        node = stack.pop()
        if isinstance(node, FieldNode):
            count += 1
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return count
