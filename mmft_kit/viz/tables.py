"""Tables a notebook displays."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..tables import markdown_table


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, digits: int = 3):
    """``rows`` as a Markdown table a notebook displays."""
    from IPython.display import Markdown

    return Markdown(markdown_table(rows, columns, digits))
