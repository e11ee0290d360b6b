"""Command-line options derived from a settings declaration: a dataclass or a pydantic model.

A field is declared once (name, type, default, description) and a command reads it from there
(as transformers' ``HfArgumentParser`` does): ``batch_size: int = 64`` becomes
``--batch-size N (default: 64)``. Types: ``str``, ``int``, ``float``, ``bool`` (``--amp`` /
``--no-amp``), ``Literal[...]`` (choices), ``tuple[T, ...]`` / ``list[T]`` (one or more
values), and ``T | None`` (``none`` gives ``None``). The help text is the pydantic field's
``description``, a dataclass field's ``metadata["help"]``, or the field's ````name````: bullet
in the declaration's docstring.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Callable, Iterable

from ..errors import InvalidInputError

#: What a ``T | None`` option reads as ``None``.
NONE_WORDS = ("none", "None", "null")


@dataclass(frozen=True)
class Declared:
    """One declared field: its name, type annotation, default (``dataclasses.MISSING`` if none) and help."""

    name: str
    annotation: Any
    default: Any
    help: str


def _docstring_help(declaration: type) -> dict[str, str]:
    """``{name: text}`` from docstring bullets of the form ``* ``name``: text`` (continuation lines joined)."""
    doc = declaration.__doc__ or ""
    found = {}
    for match in re.finditer(r"^\s*\*\s+((?:``\w+``(?:,\s*)?)+):\s*(.+?)(?=^\s*\*\s|^\s*$|\Z)", doc, re.M | re.S):
        text = " ".join(match.group(2).split())
        for name in re.findall(r"``(\w+)``", match.group(1)):
            found[name] = text
    return found


def declared_fields(declaration: type) -> list[Declared]:
    """The fields of a dataclass or pydantic model class, in declaration order."""
    if hasattr(declaration, "model_fields"):  # pydantic v2
        fields = declaration.model_fields
        return [
            Declared(name, info.annotation,
                     dataclasses.MISSING if info.is_required() else info.get_default(call_default_factory=True),
                     info.description or "")
            for name, info in fields.items()
        ]
    if dataclasses.is_dataclass(declaration):
        hints = typing.get_type_hints(declaration)
        docs = _docstring_help(declaration)
        out = []
        for f in dataclasses.fields(declaration):
            if not f.init:
                continue
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
            out.append(Declared(f.name, hints[f.name], default, f.metadata.get("help", docs.get(f.name, ""))))
        return out
    raise InvalidInputError(f"{declaration!r} is neither a dataclass nor a pydantic model: cannot derive options")


def _split_optional(annotation: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, else ``(annotation, False)``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1 and len(members) < len(typing.get_args(annotation)):
            return members[0], True
    return annotation, False


def _scalar_parser(annotation: Any, optional: bool) -> tuple[Callable[[str], Any], tuple | None]:
    """The string → value function of one value, and its choices (for ``Literal``)."""
    choices = None
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        kind = type(choices[0])
    elif isinstance(annotation, type) and issubclass(annotation, PurePath):
        kind = str
    elif annotation in (str, int, float):
        kind = annotation
    else:
        raise InvalidInputError(f"no command-line form for a field of type {annotation!r}")

    def parse(text: str) -> Any:
        if optional and text in NONE_WORDS:
            return None
        return kind(text)

    parse.__name__ = kind.__name__  # argparse names the type in its error messages
    return parse, choices


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return " ".join(map(str, value))
    return str(value)


def add_options(parser: argparse.ArgumentParser, declaration: type, exclude: Iterable[str] = ()) -> list[str]:
    """Add one ``--option`` per field of ``declaration`` (but ``exclude``) to ``parser``.

    Args:
        parser: the parser (or argument group) to add to.
        declaration: a dataclass or pydantic model class.
        exclude: field names left out (set by the command itself).

    Returns:
        The names of the fields added (read their values back with :func:`option_values`).
    """
    added = []
    for field in declared_fields(declaration):
        if field.name in exclude:
            continue
        inner, optional = _split_optional(field.annotation)
        flag = "--" + field.name.replace("_", "-")
        required = field.default is dataclasses.MISSING
        shown = "(required)" if required else f"(default: {_show(field.default)})"
        text = f"{field.help} {shown}" if field.help else shown
        options: dict[str, Any] = {"dest": field.name, "help": text.replace("%", "%%")}
        if not required:
            options["default"] = field.default
        else:
            options["required"] = True
        if inner is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            origin = typing.get_origin(inner)
            if origin in (tuple, list):
                item = typing.get_args(inner)[0]
                options["nargs"] = "+"
            else:
                item = inner
            options["type"], choices = _scalar_parser(item, optional)
            if choices:
                options["choices"] = choices
        parser.add_argument(flag, **options)
        added.append(field.name)
    return added


def option_values(args: argparse.Namespace, declaration: type) -> dict[str, Any]:
    """``{name: value}`` of the fields of ``declaration`` that :func:`add_options` added to the parsed ``args``.

    A ``none`` given to a ``tuple[T, ...] | None`` option reads as ``None``; several values of a
    ``tuple`` field come back as a tuple.
    """
    values = {}
    for field in declared_fields(declaration):
        if not hasattr(args, field.name):
            continue
        value = getattr(args, field.name)
        if isinstance(value, list):
            inner, _ = _split_optional(field.annotation)
            value = None if value == [None] else tuple(value) if typing.get_origin(inner) is tuple else value
        values[field.name] = value
    return values
