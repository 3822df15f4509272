"""Parity of the quick completion (kit/graphql_exec.py) with graphql-core's regular one: a
corpus of queries, including errors, null propagation, fragments, aliases, arguments,
variables, enums and awaitables, gives the same answer through both paths."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from strawberry.types import Info

from suishin.kit.graphql_exec import QuickExecutionContext, quick_schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Leaf:
    name: str
    score: float | None
    colour: Colour
    tags: list[str]
    maybe_tags: list[str | None] | None

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    def repeat(self, times: int = 2, sep: str = "-") -> str:
        return sep.join([self.name] * times)

    @strawberry.field
    def path(self, info: Info[Any, Any]) -> str:
        return ".".join(str(k) for k in info.path.as_list())

    @strawberry.field
    def broken(self) -> str | None:
        raise ValueError(f"broken {self.name}")

    @strawberry.field
    def broken_required(self) -> str:
        raise ValueError(f"required {self.name}")

    @strawberry.field
    def required_null(self) -> str:
        return None  # type: ignore[return-value]

    @strawberry.field
    async def later(self) -> str:
        return f"later {self.name}"

    @strawberry.field
    def not_a_list(self) -> list[str] | None:
        return "oops"  # type: ignore[return-value]

    @strawberry.field
    def bad_float(self) -> float | None:
        return "not a float"  # type: ignore[return-value]


@strawberry.type
class Branch:
    code: str
    leaves: list[Leaf]
    optional_leaf: Leaf | None
    required_leaf: Leaf

    @strawberry.field
    def children(self, first: int | None = None) -> list[Branch]:
        kids = (
            [
                Branch(
                    code=f"{self.code}.{i}",
                    leaves=[_leaf(f"{self.code}.{i}.{j}") for j in range(2)],
                    optional_leaf=None,
                    required_leaf=_leaf(f"{self.code}.{i}.r"),
                )
                for i in range(3)
            ]
            if len(self.code) < 6
            else []
        )
        return kids[:first] if first is not None else kids

    @strawberry.field
    def by_colour(self, colour: Colour) -> list[Leaf]:
        return [leaf for leaf in self.leaves if leaf.colour == colour]


def _leaf(name: str) -> Leaf:
    return Leaf(
        name=name,
        score=None if name.endswith("1") else float(len(name)),
        colour=Colour.RED if len(name) % 2 else Colour.BLUE,
        tags=[name, "t"],
        maybe_tags=[name, None] if name.endswith("0") else None,
    )


def _build(quick: bool) -> strawberry.Schema:
    @strawberry.type
    class Query:
        @strawberry.field
        def branch(self) -> Branch:
            return Branch(
                code="a",
                leaves=[_leaf(f"a{j}") for j in range(3)],
                optional_leaf=_leaf("opt"),
                required_leaf=_leaf("req"),
            )

        @strawberry.field
        async def branches(self) -> list[Branch | None]:
            return [Query.branch(self), None]  # type: ignore[arg-type]

    if quick:
        return quick_schema(
            strawberry.Schema(query=Query, execution_context_class=QuickExecutionContext)
        )
    return strawberry.Schema(query=Query)


CORPUS: list[tuple[str, dict[str, Any] | None]] = [
    ("{ branch { code leaves { name score colour tags maybeTags shout } } }", None),
    ("{ branch { __typename code leaves { __typename name } } }", None),
    (
        '{ branch { a: code b: code leaves { n: name repeat r3: repeat(times: 3, sep: "+") } } }',
        None,
    ),
    ("{ branch { children(first: 2) { code children { code leaves { path } } } } }", None),
    ("query($c: Colour!) { branch { byColour(colour: $c) { name colour } } }", {"c": "RED"}),
    ("query($n: Int) { branch { children(first: $n) { code } } }", {"n": 1}),
    (
        "{ branch { ...B children { ...B } } } fragment B on Branch { code leaves { ...L } } "
        "fragment L on Leaf { name shout }",
        None,
    ),
    ("{ branch { ... on Branch { code } leaves { ... on Leaf { name } } } }", None),
    ("{ branch { code leaves { name broken } } }", None),  # error, nullable: null + error
    ("{ branch { code leaves { name brokenRequired } } }", None),  # error propagates to branch
    ("{ branch { code requiredLeaf { requiredNull } } }", None),  # null at non-null
    ("{ branch { code optionalLeaf { name brokenRequired } } }", None),  # stops at optionalLeaf
    ("{ branch { code leaves { name later } } }", None),  # awaitable field
    ("{ branch { leaves { notAList } } }", None),
    ("{ branch { leaves { badFloat } } }", None),
    ("{ branches { code leaves { name } } }", None),
    ("{ branches { code requiredLeaf { brokenRequired } } }", None),
    (
        "{ branch { code @include(if: false) leaves @skip(if: true) { name } "
        "optionalLeaf { name } } }",
        None,
    ),
    (
        "query($i: Boolean!) { branch { code @include(if: $i) children { code @skip(if: $i) } } }",
        {"i": True},
    ),
    ("{ branch { code children { children { children { code leaves { name score } } } } } }", None),
]


def _outcome(result: Any) -> Any:
    errors = sorted(
        (e.message, tuple(e.path or ()), tuple((loc.line, loc.column) for loc in e.locations or ()))
        for e in result.errors or ()
    )
    return result.data, errors


@pytest.mark.parametrize(("query", "variables"), CORPUS)
async def test_quick_and_regular_completion_give_the_same_answer(
    query: str, variables: dict[str, Any] | None
) -> None:
    quick = await _build(True).execute(query, variable_values=variables)
    regular = await _build(False).execute(query, variable_values=variables)
    assert _outcome(quick) == _outcome(regular)
    assert quick.data is not None or quick.errors


async def test_the_quick_path_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = QuickExecutionContext._quick

    def counting(self: Any, *args: Any) -> Any:
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(QuickExecutionContext, "_quick", counting)
    result = await _build(True).execute("{ branch { code leaves { name shout } } }")
    assert result.errors is None
    assert calls
