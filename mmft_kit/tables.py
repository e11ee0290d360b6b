"""The tables' old home, kept for imports: tables live in :mod:`mmft_kit.report`."""

from .report import aggregate, markdown_table

__all__ = ["aggregate", "markdown_table"]
