"""GraphQL documents from graphql/operations/, with ``#import`` lines resolved."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

OPERATIONS = Path(__file__).resolve().parents[1] / "graphql" / "operations"
_IMPORT = re.compile(r'^#import "\./([\w.]+)"\s*$', re.MULTILINE)


@cache
def operation(name: str) -> str:
    """The document ``graphql/operations/<name>.graphql`` with its fragments appended."""
    text = (OPERATIONS / f"{name}.graphql").read_text()
    fragments = [operation(Path(f).stem) for f in _IMPORT.findall(text)]
    return "\n".join([_IMPORT.sub("", text), *fragments])
