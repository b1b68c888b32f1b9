"""The edge rule itself (service/validation.py): what it refuses of each kind of string
and of JSON values, and that any nesting is answered."""

from __future__ import annotations

from typing import Any

import pytest

from service.errors import FieldError, InvalidInput
from service.validation import (
    CONTROL,
    MAX_STRING_LENGTH,
    MAX_TEXT_LENGTH,
    UNENCODABLE,
    Kind,
    json_problems,
    require,
    string_problem,
    text,
)

LONG = f"may be at most {MAX_STRING_LENGTH} characters"
LONG_TEXT = f"may be at most {MAX_TEXT_LENGTH} characters"


@pytest.mark.parametrize(
    ("value", "kind", "problem"),
    [
        ("shop", Kind.NAME, None),
        ("Zoë 😀 字", Kind.NAME, None),
        ("x" * MAX_STRING_LENGTH, Kind.NAME, None),
        ("😀" * MAX_STRING_LENGTH, Kind.NAME, None),
        ("x" * (MAX_STRING_LENGTH + 1), Kind.NAME, LONG),
        ("a\x00b", Kind.NAME, CONTROL),
        ("a\tb", Kind.NAME, CONTROL),
        ("a\nb", Kind.NAME, CONTROL),
        ("\x1f", Kind.NAME, CONTROL),
        ("\x7f", Kind.NAME, CONTROL),
        ("\x85", Kind.NAME, CONTROL),
        ("\xa0", Kind.NAME, None),  # a no-break space is no control character
        ("a\ud800", Kind.NAME, UNENCODABLE),
        ("\udfff", Kind.NAME, UNENCODABLE),
        ("\ud83d\ude00", Kind.NAME, UNENCODABLE),  # a pair as two code points: not UTF-8
        ("line\n\ttwo\r\n", Kind.TEXT, None),
        ("x" * MAX_TEXT_LENGTH, Kind.TEXT, None),
        ("x" * (MAX_TEXT_LENGTH + 1), Kind.TEXT, LONG_TEXT),
        ("a\x00", Kind.TEXT, CONTROL),
        ("\x0b", Kind.TEXT, CONTROL),
        ("\x9f", Kind.TEXT, CONTROL),
        ("\ud800", Kind.TEXT, UNENCODABLE),
        ("\x00\n\x85" + "x" * 10_000, Kind.JSON, None),  # content: bounded by its container
        ("\ud800", Kind.JSON, UNENCODABLE),
        ("\ud800\x00" + "x" * 10_000, Kind.CREDENTIAL, None),  # its own check answers
    ],
)
def test_string_problem_of_each_kind(value: str, kind: Kind, problem: str | None) -> None:
    assert string_problem(value, kind) == problem


def test_string_problem_length_before_content() -> None:
    assert string_problem("\x00" * 300, Kind.NAME) == LONG
    assert string_problem("\x00" * 300, Kind.TEXT, bounded=False) == CONTROL


def test_json_problems_names_every_path_in_order() -> None:
    value = {
        "ok": ["fine", 1, 2.5, 10**300, True, None, {"n": -0.0}],
        "z": {"deep": [[{"s": "\ud800"}]]},
        "a": [float("nan"), float("inf"), -float("inf")],
        "\udfff": "never looked at",
    }

    problems = json_problems(value, "data.details")

    assert problems == [
        FieldError("data.details", f"data.details has a key that {UNENCODABLE}"),
        FieldError("data.details.a.0", "data.details.a.0 must be a finite number"),
        FieldError("data.details.a.1", "data.details.a.1 must be a finite number"),
        FieldError("data.details.a.2", "data.details.a.2 must be a finite number"),
        FieldError("data.details.z.deep.0.0.s", f"data.details.z.deep.0.0.s {UNENCODABLE}"),
    ]


@pytest.mark.parametrize("value", [{}, [], "text", 0, 1.5, None, False, {"a": {"b": [1]}}])
def test_json_problems_none_in_plain_json(value: Any) -> None:
    assert json_problems(value, "v") == []


def test_json_problems_answer_any_nesting() -> None:
    deep: Any = float("nan")
    for _ in range(5_000):  # past the interpreter's recursion limit
        deep = [deep]

    problems = json_problems(deep, "v")

    assert [p.field for p in problems] == ["v" + ".0" * 5_000]


def test_require_raises_for_its_field() -> None:
    assert require("fine", Kind.NAME, "data.details.email") == "fine"
    with pytest.raises(InvalidInput) as raised:
        require("x" * 300, Kind.NAME, "data.details.email")

    assert raised.value.field == "data.details.email"
    assert raised.value.message == f"data.details.email {LONG}"


def test_text_is_the_rule_for_free_text_of_any_length() -> None:
    assert text("a\n\tb" + "x" * 10_000, "description").startswith("a\n\tb")
    for bad in ("a\x00", "\ud800"):
        with pytest.raises(InvalidInput):
            text(bad, "description")
