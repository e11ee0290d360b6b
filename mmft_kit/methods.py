"""Every method of both papers in one table, and one way to run any of them.

:data:`METHODS` maps a name to its :class:`~mmft_kit.method.Method`: its run config, its runner and
its capabilities. Importing this module imports both method families, so the table is whole:

* family ``clip`` (:mod:`mmft_kit.train`): ``mmft``, ``flyp``, ``flyp_ens``, ``ce``, ``zeroshot``;
* family ``frozen`` (:mod:`mmft_kit.train.frozen`): ``linear_probe``, ``tip_adapter``, ``tip_adapter_f``, ``lp_pp``;
* family ``pare`` (:mod:`mmft_kit.pare`): ``scratch``, ``finetune``, ``orca``, ``pare``, ``pare_random_gate``,
  ``pare_uniform``.

Example::

    from mmft_kit.methods import make_config, run
    result = run(make_config("pare", task="darcy", epochs=4))
    result = run(make_config("linear_probe", dataset="badges", shots=4))

:func:`register_method` adds a method from outside the package; the train command line, the
notebooks' method choices, the batch grids and the benchmarks' options then offer it. A module named in
``$MMFT_KIT_METHODS`` is imported with this one, so processes the kit starts (notebook kernels) see its methods.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from . import train  # noqa: F401, I001  (each family registers its methods when imported, in this order)
from . import pare  # noqa: F401, I001
from .method import METHODS, Method, get_method, listing, register_method, run
from .params.fields import RunParams

#: Environment variable naming modules (comma-separated) that register methods from outside the package; they are
#: imported with this module, so every process sees their methods (a batch's notebook kernels, benchmark workers).
PLUGINS_ENV = "MMFT_KIT_METHODS"
#: The built-in families in the order the table lists them, whichever family was imported first.
FAMILIES = ("clip", "frozen", "pare")


def _order_families() -> None:
    """Put the built-in families first, in :data:`FAMILIES` order (each in its registration order)."""
    rank = {family: i for i, family in enumerate(FAMILIES)}
    ordered = sorted(METHODS.values(), key=lambda m: rank.get(m.family, len(FAMILIES)))
    METHODS.clear()
    METHODS.update((m.name, m) for m in ordered)


_order_families()


def make_config(method: str, **values: Any) -> RunParams:
    """The run config of ``method`` (its own config class) with ``values``, checked."""
    return get_method(method).make_config(**values)


def methods_of(family: str) -> list[str]:
    """The names of the methods of ``family``, in registration order."""
    return [name for name, method in METHODS.items() if method.family == family]


def methods_table() -> str:
    """Every registered method as a Markdown table (the README's, kept equal to it by a test)."""
    from .report import markdown_table

    def mark(flag: bool) -> str:
        return "yes" if flag else ""

    rows = [{"method": f"`{m.name}`", "family": m.family, "config": f"`{m.config.__name__}`",
             "trains weights": mark(m.trains_weights), "captions": mark(m.uses_captions), "WiSE-FT": mark(m.wise_ft),
             "metric": m.metric + ("" if m.higher_is_better else " (lower is better)"), "what it does": m.description}
            for m in METHODS.values()]
    return markdown_table(rows)


def load_plugins(names: str | None = None) -> list[str]:
    """Import the modules named in ``names`` (default: ``$MMFT_KIT_METHODS``), which register their methods."""
    modules = [name.strip() for name in (names if names is not None else os.environ.get(PLUGINS_ENV, "")).split(",")]
    for module in filter(None, modules):
        importlib.import_module(module)
    return [m for m in modules if m]


load_plugins()

__all__ = ["METHODS", "PLUGINS_ENV", "Method", "get_method", "listing", "load_plugins", "make_config", "methods_of",
           "methods_table", "register_method", "run"]
