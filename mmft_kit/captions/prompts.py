"""Caption prompts: the paper's template, and templates and characteristics kept as editable data.

The templates live in ``templates.json`` beside this module (package data). A user can edit that
file, or pass a template of their own: a string with ``{class_name}``, ``{domain}``,
``{characteristic}`` and ``{words}`` placeholders, a text file holding such a string, or a JSON /
YAML file laid out like ``templates.json`` (its default template is used).
"""

from __future__ import annotations

import difflib
import json
import os
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import InvalidInputError
from ..params.fields import PAPER_WORDS
from ..text import clean_classname

#: The prompt data shipped with the kit.
TEMPLATES_FILE = Path(__file__).with_name("templates.json")

#: The placeholders a template may use.
PLACEHOLDERS = ("class_name", "domain", "characteristic", "words")


@dataclass(frozen=True)
class PromptLibrary:
    """Named templates, the default one, and the characteristics captions are asked for."""

    templates: dict[str, str]
    default_template: str
    default_characteristics: tuple[str, ...]
    characteristics: tuple[str, ...]

    def template(self, name: str | None = None) -> str:
        """The template called ``name`` (the default one for ``None``)."""
        name = self.default_template if name is None else name
        if name not in self.templates:
            raise InvalidInputError(f"no template named {name!r}; known templates: {sorted(self.templates)}")
        return self.templates[name]


def _read_mapping(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} must hold a mapping laid out like {TEMPLATES_FILE.name}")
    return data


@lru_cache(maxsize=16)
def _load_library(path: str, mtime_ns: int, size: int) -> PromptLibrary:
    data = _read_mapping(Path(path))
    templates = data.get("templates")
    if not isinstance(templates, dict) or not templates:
        raise InvalidInputError(f"{path} has no 'templates' mapping (name -> template string)")
    for name, template in templates.items():
        check_template(template, where=f"template {name!r} in {path}")
    default = data.get("default_template", next(iter(templates)))
    characteristics = tuple(data.get("characteristics", ()))
    library = PromptLibrary(
        templates=dict(templates),
        default_template=default,
        default_characteristics=tuple(data.get("default_characteristics", characteristics[:1] or ("visual",))),
        characteristics=characteristics,
    )
    library.template()  # the default must name a template
    return library


def load_library(path: str | os.PathLike | None = None) -> PromptLibrary:
    """Load a prompt library (JSON or YAML laid out like ``templates.json``); ``None``: the shipped one."""
    path = Path(TEMPLATES_FILE if path is None else path).expanduser().resolve()
    if not path.is_file():
        raise InvalidInputError(f"prompt library {path} does not exist")
    stat = path.stat()
    return _load_library(str(path), stat.st_mtime_ns, stat.st_size)  # an edited file is read again


def check_template(template: str, where: str = "template") -> str:
    """Return ``template`` if it only uses the known named placeholders; else raise InvalidInputError."""
    if not isinstance(template, str) or not template.strip():
        raise InvalidInputError(f"{where} must be a non-empty string")
    known = "{" + "}, {".join(PLACEHOLDERS) + "}"
    try:
        fields = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as exc:
        raise InvalidInputError(
            f"{where} is malformed ({exc}): {template!r}. Write a placeholder as one of {known}, and a literal "
            "brace doubled: {{ or }}"
        ) from exc
    if not fields:
        raise InvalidInputError(f"{where} has no placeholder; use some of {known}")
    unknown = fields - set(PLACEHOLDERS)
    if unknown:
        hints = []
        for name in sorted(unknown):
            close = difflib.get_close_matches(name.split(".")[0].split("[")[0], PLACEHOLDERS, n=1)
            hints.append(("{} (an empty, positional placeholder)" if not name.strip() else "{" + name + "}")
                         + (f" (did you mean {{{close[0]}}}?)" if close else ""))
        raise InvalidInputError(
            f"{where} uses unknown placeholder(s) {sorted(unknown)}: {'; '.join(hints)}. Use only {known} "
            "(a literal brace is written doubled: {{ or }})"
        )
    return template


def resolve_template(template: str | os.PathLike | None = None) -> str:
    """Turn ``template`` into a template string.

    ``None``: the shipped default; a name from ``templates.json``; a path to a text file (one
    template) or to a JSON / YAML prompt library (its default template); or a template string.
    """
    library = load_library()
    if template is None:
        return library.template()
    if isinstance(template, os.PathLike) or (isinstance(template, str) and "{" not in template):
        if isinstance(template, str) and template in library.templates:
            return library.template(template)
        path = Path(template).expanduser()
        if path.is_file():
            if path.suffix.lower() in (".json", ".yaml", ".yml"):
                return load_library(path).template()
            return check_template(path.read_text(encoding="utf-8").strip(), where=f"template file {path}")
        raise InvalidInputError(
            f"{str(template)!r} is neither a template name ({sorted(library.templates)}), nor a file, nor a "
            f"template string with placeholders such as {{class_name}} and {{characteristic}}"
        )
    return check_template(template)


def build_prompt(
    class_name: str,
    domain: str,
    characteristic: str = "visual",
    words: int = PAPER_WORDS,
    template: str | os.PathLike | None = None,
) -> str:
    """The caption prompt for one image of class ``class_name`` (cleaned: lower case, ``_``/``-`` → space).

    With the default template: "To differentiate this {class_name} photo from other {domain} photos,
    describe its primary {characteristic} characteristics based on the photo in {words} words."
    """
    if int(words) != words or words <= 0:
        raise InvalidInputError(f"words must be a positive whole number; got {words!r}")
    return resolve_template(template).format(
        class_name=clean_classname(class_name), domain=domain.strip(), characteristic=characteristic.strip(),
        words=int(words),
    )


def default_characteristics() -> tuple[str, ...]:
    """The characteristics asked for by default (the paper: visual, shape, texture)."""
    return load_library().default_characteristics
