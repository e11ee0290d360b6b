"""Class-name text shared by captions, training and inference."""

from __future__ import annotations

import re

#: The single prompt FLYP trains on and classifies with.
CLASS_TEMPLATE = "a photo of a {}."
#: The prompt exactly as the MMFT and FLYP authors write it (no full stop).
AUTHORS_TEMPLATE = "a photo of a {}"


def prompt_template(full_stop: bool = True) -> str:
    """:data:`CLASS_TEMPLATE` (with the full stop) or :data:`AUTHORS_TEMPLATE` (without)."""
    return CLASS_TEMPLATE if full_stop else AUTHORS_TEMPLATE


def clean_classname(name: str) -> str:
    """Lower-case a class name and turn ``_`` and ``-`` into spaces (as the MMFT authors do)."""
    return re.sub(r"\s+", " ", re.sub(r"[_-]", " ", name)).strip().lower()


def class_prompt(classname: str, template: str = CLASS_TEMPLATE) -> str:
    """``"a photo of a {class}."`` for a class name."""
    return template.format(clean_classname(classname))


def with_class_prefix(caption: str, classname: str) -> str:
    """Prefix a caption with ``"a photo of a {class}. "`` (the authors' ``--add_class_template``)."""
    return f"{class_prompt(classname)} {caption.strip()}"
