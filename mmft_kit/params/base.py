"""The base of every parameter declaration: a pydantic model that reads command-line text and explains its errors.

A field is declared once, with its type, range, default and meaning; the notebook's checks, the
batch runner's validation and the command lines (:func:`add_arguments`) are derived from it.
Values may arrive as text (papermill ``-p``, ``mmft_kit batch -p``, a YAML grid): ``"4"``,
``"1e-4"``, ``"true"``, ``"None"``, ``"0,1"`` and ``"[0, 1]"`` are converted before validation.
"""

from __future__ import annotations

import argparse
import difflib
import os
import types
import typing
from typing import Any, Mapping, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.fields import FieldInfo

from ..errors import BadParametersError

P = TypeVar("P", bound="Params")
_NONE_WORDS = ("none", "null", "")


def _is_list(annotation: Any) -> bool:
    """Whether ``annotation`` (possibly ``X | None`` or ``Annotated``) is a list type."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation) if a is not type(None))
    return typing.get_origin(annotation) in (list, tuple) or annotation in (list, tuple)


def _allows_none(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        return _allows_none(typing.get_args(annotation)[0])
    return annotation is None or type(None) in typing.get_args(annotation)


def from_text(value: Any, annotation: Any) -> Any:
    """``value`` as the field's type expects it: ``"None"`` → None (optional fields), ``"0,1"`` /
    ``"[0, 1]"`` / a single value → a list (list fields), a path → text; anything else unchanged for pydantic."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str) and value.strip().lower() in _NONE_WORDS and _allows_none(annotation):
        return None
    if not _is_list(annotation) or value is None:
        return value
    if isinstance(value, str):
        text = value.strip()
        return yaml.safe_load(text) if text.startswith("[") else text.replace(",", " ").split()
    return list(value) if isinstance(value, (list, tuple)) else [value]


class Params(BaseModel):
    """A set of parameters, checked when made; bad values raise one BadParametersError naming them all."""

    model_config = ConfigDict(extra="forbid", validate_default=True, validate_assignment=True)
    #: What the error message calls these parameters, and where to fix them.
    what: typing.ClassVar[str] = "parameters"
    fix: typing.ClassVar[str] = "Fix them where they were given."

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise BadParametersError(describe_errors(type(self), exc), type(self).fix) from None

    @field_validator("*", mode="before")
    @classmethod
    def _read_text(cls, value: Any, info) -> Any:
        return from_text(value, cls.model_fields[info.field_name].annotation)

    def updated(self: P, **changes: Any) -> P:
        """A copy with ``changes``, validated."""
        return type(self)(**{**self.model_dump(), **changes})


def redefault(model: type[Params], name: str, default: Any) -> FieldInfo:
    """Field ``name`` of ``model`` with another default and everything else (range, meaning) as declared
    there: how a family or a notebook gives a shared field its own default without retyping it.
    Use as ``epochs: int = redefault(OptimParams, "epochs", 20)``."""
    return FieldInfo.merge_field_infos(model.model_fields[name], default=default)


def bounds(model: type[Params], name: str) -> tuple[float | None, float | None]:
    """The closed range ``(low, high)`` field ``name`` of ``model`` declares (``ge``/``le``, or ``gt``/``lt``
    for integers as the next integer); None where it is open. Sliders take their range from here."""
    low = high = None
    for constraint in model.model_fields[name].metadata:
        low = getattr(constraint, "ge", low)
        high = getattr(constraint, "le", high)
        if getattr(constraint, "gt", None) is not None:
            low = constraint.gt + 1 if isinstance(constraint.gt, int) else constraint.gt
        if getattr(constraint, "lt", None) is not None:
            high = constraint.lt - 1 if isinstance(constraint.lt, int) else constraint.lt
    return low, high


def describe_errors(cls: type[Params], exc: ValidationError) -> str:
    """One readable message for every problem of ``exc``: each field with its value and what it must be."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "(all)"
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, list(cls.model_fields), n=1)
            lines.append(f"  {name}: unknown" + (f"; did you mean {close[0]!r}?" if close else "")
                         + f" (known: {', '.join(cls.model_fields)})")
            continue
        field = cls.model_fields.get(name)
        meaning = f" [{field.description}]" if field is not None and field.description else ""
        where = "".join(f"[{part}]" for part in error["loc"][1:])
        lines.append(f"  {name}{where} = {error['input']!r}: {error['msg']}{meaning}")
    return f"bad {cls.what}:\n" + "\n".join(lines) + f"\n{cls.fix}"


def add_arguments(parser: argparse.ArgumentParser, model: type[Params], names: Sequence[str] | None = None,
                  defaults: Mapping[str, Any] | None = None, flags: Mapping[str, str] | None = None) -> None:
    """Add one ``--name`` option per field of ``model`` (``names`` only, when given) to ``parser``.

    Options take text (lists: several values; booleans are ``--x`` / ``--no-x`` flags);
    :func:`from_arguments` hands it to the model,
    which converts and checks it, so ranges and defaults stay in the declaration. ``defaults``
    replace the model's default for this command line; ``flags`` give a field another option name
    (``{"caption_store": "--store"}``).
    """
    for name in names or list(model.model_fields):
        field = model.model_fields[name]
        default = (defaults or {}).get(name, field.default)
        flag = (flags or {}).get(name, f"--{name.replace('_', '-')}")
        given = "required" if field.is_required() and name not in (defaults or {}) else f"default: {default}"
        help_text = f"{field.description or name} ({given})"
        if field.annotation is bool:  # --amp / --no-amp
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=help_text)
            continue
        parser.add_argument(flag, dest=name, nargs="+" if _is_list(field.annotation) else None,
                            default=argparse.SUPPRESS, metavar=name.upper(), help=help_text)


def read_arguments(args: argparse.Namespace, model: type[Params], names: Sequence[str],
                   defaults: Mapping[str, Any] | None = None) -> None:
    """Set ``args.NAME`` for each of ``names`` (options :func:`add_arguments` added) to the value ``model``
    checked: given on the command line, else ``defaults``, else the declared default."""
    checked = from_arguments(model, args, names, {n: v for n, v in (defaults or {}).items() if n in names})
    for name in names:
        setattr(args, name, getattr(checked, name))


def from_arguments(model: type[P], args: argparse.Namespace, names: Sequence[str] | None = None,
                   defaults: Mapping[str, Any] | None = None, **fixed: Any) -> P:
    """The ``model`` made from the options :func:`add_arguments` added for ``names`` (all its fields when
    None): the ones given on the command line over ``defaults``, with ``fixed`` on top."""
    names = set(names or model.model_fields)
    given = {name: value for name, value in vars(args).items() if name in names}
    return model(**{**(defaults or {}), **given, **fixed})
