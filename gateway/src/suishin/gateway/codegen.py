"""Generate the gateway's mirror of the subgraph types from their SDL.

``python -m suishin.gateway.codegen`` reads ``gateway/subgraphs/<name>.graphql`` (the federation
SDL of each subgraph, refreshed by ``gateway/scripts/refresh_subgraph_sdl.py``) and writes
``generated.py``: one Strawberry type per subgraph type (same names, fields, arguments,
descriptions), entity fields contributed by another subgraph marked with their owner (resolved
through ``_entities``), and root fields forwarded to the subgraph that owns them. Hand-written
additions live in schema.py.

Rules: an object type's *home* is the subgraph defining most of its fields; on an entity (a type
with ``@key``) a field only another subgraph defines is owned by that subgraph. Query fields are
open to anonymous callers (each subgraph shows them public data only); mutations need a token.
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    EnumTypeDefinitionNode,
    EnumValueNode,
    FieldDefinitionNode,
    FloatValueNode,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    IntValueNode,
    ListTypeNode,
    ListValueNode,
    NamedTypeNode,
    NonNullTypeNode,
    NullValueNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ScalarTypeDefinitionNode,
    StringValueNode,
    TypeNode,
    ValueNode,
    parse,
)

SUBGRAPHS = ("plans", "indicators", "notifications")
SDL_DIR = Path(__file__).resolve().parents[3] / "subgraphs"
OUTPUT = Path(__file__).resolve().parent / "generated.py"

SCALARS = {
    "String": "str",
    "Int": "int",
    "Float": "float",
    "Boolean": "bool",
    "ID": "strawberry.ID",
    "DateTime": "datetime.datetime",
    "Date": "datetime.date",
    "Decimal": "decimal.Decimal",
    "UUID": "uuid.UUID",
    "JSON": "JSON",
}
ROOTS = ("Query", "Mutation")


class CodegenError(Exception):
    pass


@dataclass
class FieldDef:
    node: FieldDefinitionNode
    subgraph: str


@dataclass
class ObjectDef:
    name: str
    description: str | None = None
    fields: dict[str, list[FieldDef]] = field(default_factory=dict)
    keyed_in: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def home(self) -> str:
        return max(self.counts, key=lambda s: (self.counts[s], -SUBGRAPHS.index(s)))

    @property
    def is_entity(self) -> bool:
        return bool(self.keyed_in)


@dataclass
class Merged:
    objects: dict[str, ObjectDef] = field(default_factory=dict)
    inputs: dict[str, InputObjectTypeDefinitionNode] = field(default_factory=dict)
    enums: dict[str, EnumTypeDefinitionNode] = field(default_factory=dict)
    scalars: set[str] = field(default_factory=set)


def merge(sdls: dict[str, str]) -> Merged:
    merged = Merged()
    for subgraph, text in sdls.items():
        document = parse(text)
        for definition in document.definitions:
            name = getattr(getattr(definition, "name", None), "value", None)
            if name is None or name.startswith("_"):
                continue
            if isinstance(definition, (ObjectTypeDefinitionNode, ObjectTypeExtensionNode)):
                obj = merged.objects.setdefault(name, ObjectDef(name))
                description = getattr(definition, "description", None)
                if description and not obj.description:
                    obj.description = description.value
                if _has_directive(definition.directives, "key"):
                    obj.keyed_in.add(subgraph)
                own = [f for f in definition.fields or () if not f.name.value.startswith("_")]
                obj.counts[subgraph] = obj.counts.get(subgraph, 0) + len(own)
                for f in own:
                    obj.fields.setdefault(f.name.value, []).append(FieldDef(f, subgraph))
            elif isinstance(definition, InputObjectTypeDefinitionNode):
                merged.inputs.setdefault(name, definition)
            elif isinstance(definition, EnumTypeDefinitionNode):
                merged.enums.setdefault(name, definition)
            elif isinstance(definition, ScalarTypeDefinitionNode):
                merged.scalars.add(name)
    for root in ROOTS:
        root_def = merged.objects.get(root)
        for fname, defs in (root_def.fields if root_def else {}).items():
            if len(defs) > 1:
                owners = ", ".join(d.subgraph for d in defs)
                raise CodegenError(f"{root}.{fname} is defined by several subgraphs ({owners})")
    unknown = merged.scalars - set(SCALARS)
    if unknown:
        raise CodegenError(f"unknown scalars {sorted(unknown)}: add them to codegen and scalars")
    return merged


def _has_directive(directives: Iterable[DirectiveNode] | None, name: str) -> bool:
    return any(d.name.value == name for d in directives or ())


def snake(name: str) -> str:
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    return out + "_" if keyword.iskeyword(out) or out in {"self", "info"} else out


def py_type(node: TypeNode, *, nullable: bool = True) -> str:
    if isinstance(node, NonNullTypeNode):
        return py_type(node.type, nullable=False)
    if isinstance(node, ListTypeNode):
        inner = f"list[{py_type(node.type)}]"
    else:
        assert isinstance(node, NamedTypeNode)
        inner = SCALARS.get(node.name.value, node.name.value)
    return f"{inner} | None" if nullable else inner


def py_value(node: ValueNode | None, type_node: TypeNode) -> str:
    if node is None or isinstance(node, NullValueNode):
        return "None"
    if isinstance(node, BooleanValueNode):
        return "True" if node.value else "False"
    if isinstance(node, (IntValueNode, FloatValueNode)):
        return node.value
    if isinstance(node, StringValueNode):
        return repr(node.value)
    if isinstance(node, EnumValueNode):
        return f"{_named(type_node)}.{node.value}"
    if isinstance(node, ListValueNode):
        inner = type_node.type if isinstance(type_node, NonNullTypeNode) else type_node
        item = inner.type if isinstance(inner, ListTypeNode) else inner
        return "[" + ", ".join(py_value(v, item) for v in node.values) + "]"
    raise CodegenError(f"unsupported default value {node.kind}")


def _named(node: TypeNode) -> str:
    while not isinstance(node, NamedTypeNode):
        node = node.type  # type: ignore[attr-defined]
    return node.name.value


def _desc(node: object) -> str | None:
    description = getattr(node, "description", None)
    return description.value if description is not None else None


def _deprecation(node: FieldDefinitionNode) -> str | None:
    for d in node.directives or ():
        if d.name.value == "deprecated":
            for arg in d.arguments or ():
                if arg.name.value == "reason" and isinstance(arg.value, StringValueNode):
                    return arg.value.value
            return "No longer supported"
    return None


def _argument(arg: InputValueDefinitionNode) -> str:
    annotation = py_type(arg.type)
    options = [f"name={arg.name.value!r}"]
    if _desc(arg):
        options.append(f"description={_desc(arg)!r}")
    marker = f"strawberry.argument({', '.join(options)})"
    text = f"{snake(arg.name.value)}: Annotated[{annotation}, {marker}]"
    if arg.default_value is not None or not isinstance(arg.type, NonNullTypeNode):
        default = py_value(arg.default_value, arg.type)
        if default.startswith("["):
            default = "None"  # mutable list defaults: the subgraph applies its own
        text += f" = {default}"
    return text


def _kwargs(**values: object) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items() if v is not None)


def render(merged: Merged, sources: dict[str, str]) -> str:
    out: list[str] = [
        '"""Mirror of the subgraph types. Generated by `python -m suishin.gateway.codegen` from',
        "gateway/subgraphs/*.graphql: do not edit by hand (see codegen.py for the rules).",
        '"""',
        "",
        "# ruff: noqa: E501",
        '# mypy: disable-error-code="empty-body"',
        "from __future__ import annotations",
        "",
        "import datetime",
        "import decimal",
        "import enum",
        "import uuid",
        "from typing import Annotated, Any",
        "",
        "import strawberry",
        "from strawberry.scalars import JSON",
        "from strawberry.types import Info",
        "",
        "from suishin.gateway.remote import forwarded, remote, remote_method, remote_type",
        "",
        "__all__ = ['JSON', 'Any', 'datetime', 'decimal', 'uuid']",
        "",
        "SOURCES = {" + ", ".join(f"{k!r}: {v!r}" for k, v in sources.items()) + "}",
        "",
    ]
    for name in sorted(merged.enums):
        enum_node = merged.enums[name]
        out += ["", f"@strawberry.enum({_kwargs(name=name, description=_desc(enum_node))})"]
        out.append(f"class {name}(enum.Enum):")
        for value in enum_node.values or ():
            out.append(f"    {value.name.value} = {value.name.value!r}")
        out.append("")
    for name in sorted(merged.inputs):
        input_node = merged.inputs[name]
        out += ["", f"@strawberry.input({_kwargs(name=name, description=_desc(input_node))})"]
        out.append(f"class {name}:")
        for f in input_node.fields or ():
            default = py_value(f.default_value, f.type)
            options = _kwargs(name=f.name.value, description=_desc(f))
            if default.startswith("["):
                options += ", default_factory=lambda: " + default
            elif f.default_value is not None or not isinstance(f.type, NonNullTypeNode):
                options += f", default={default}"
            out.append(
                f"    {snake(f.name.value)}: {py_type(f.type)} = strawberry.field({options})"
            )
        out.append("")
    for name in sorted(n for n in merged.objects if n not in ROOTS):
        out += _render_object(merged.objects[name])
    for root in ROOTS:
        if root in merged.objects:
            out += _render_root(merged.objects[root], mutation=root == "Mutation")
    return "\n".join(out) + "\n"


def _render_object(obj: ObjectDef) -> list[str]:
    home = obj.home
    out = ["", f"@remote_type({_kwargs(description=obj.description or obj.name, name=obj.name)})"]
    out.append(f"class {obj.name}:")
    for fname, defs in obj.fields.items():
        chosen = next((d for d in defs if d.subgraph == home), defs[0])
        owner = chosen.subgraph if obj.is_entity and chosen.subgraph != home else None
        node = chosen.node
        kwargs = _kwargs(subgraph=owner, deprecation_reason=_deprecation(node), name=fname)
        description = repr(_desc(node) or "")
        if node.arguments:
            out.append(f"    @remote_method({description}, {kwargs})")
            args = ", ".join(_argument(a) for a in node.arguments)
            signature = f"(self, info: Info[Any, Any], *, {args}) -> {py_type(node.type)}"
            out.append(f"    def {snake(fname)}{signature}: ...")
        else:
            out.append(
                f"    {snake(fname)}: {py_type(node.type)} = remote({description}, {kwargs})"
            )
    out.append("")
    return out


def _render_root(obj: ObjectDef, *, mutation: bool) -> list[str]:
    out = ["", f"@strawberry.type(name='Generated{obj.name}')", f"class Generated{obj.name}:"]
    for fname, (chosen,) in obj.fields.items():
        node = chosen.node
        kwargs = _kwargs(
            description=_desc(node) or "",
            mutation=True if mutation else None,
            public=None if mutation else True,
            deprecation_reason=_deprecation(node),
            name=fname,
        )
        out.append(f"    @forwarded({chosen.subgraph!r}, {kwargs})")
        args = (
            ", *" + "".join(", " + _argument(a) for a in node.arguments) if node.arguments else ""
        )
        out.append(
            f"    def {snake(fname)}(self, info: Info[Any, Any]{args}) -> {py_type(node.type)}: ..."
        )
    out.append("")
    return out


def read_sdls(directory: Path = SDL_DIR) -> dict[str, str]:
    found = {}
    for name in SUBGRAPHS:
        path = directory / f"{name}.graphql"
        if path.exists():
            found[name] = path.read_text("utf-8")
    return found


def generate(directory: Path = SDL_DIR) -> str:
    sdls = read_sdls(directory)
    import hashlib

    sources = {k: hashlib.sha256(v.encode()).hexdigest()[:16] for k, v in sdls.items()}
    return render(merge(sdls), sources)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated.py is stale")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text("utf-8") != text:
            print("generated.py is stale: run python -m suishin.gateway.codegen", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, "utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
