"""Limits on what a document may ask for: depth, aliases, directives, tokens, and
introspection in production.

The validation rules are built once per set of limits and reused, so the validation
cache (keyed by the rule tuple) keeps hitting; constructing Strawberry's
``QueryDepthLimiter``/``MaxAliasesLimiter`` per request would defeat it (DESIGN.md §7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import cache
from typing import Any

from graphql import ASTValidationRule, DirectiveNode, GraphQLError, ValidationContext
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from service.settings import Settings


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
                    GraphQLError(f"the document uses more than {max_directives} directives", node)
                )

    return MaxDirectives


@cache
def rules(
    max_depth: int, max_aliases: int, max_directives: int, introspection: bool
) -> tuple[type[ASTValidationRule], ...]:
    """The extra validation rules for one set of limits (built once, then shared)."""
    built: list[type[ASTValidationRule]] = [
        depth_validator(max_depth, should_ignore=None),
        aliases_validator(max_aliases),
        directives_validator(max_directives),
    ]
    if not introspection:
        built.append(NoSchemaIntrospectionCustomRule)
    return tuple(built)


class OperationGuard(SchemaExtension):
    """Applies the limits of the running settings before parsing and validation."""

    async def on_operation(self) -> AsyncIterator[None]:
        execution_context = self.execution_context
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
        yield
