"""Every method of both papers in one table, and one way to run any of them.

:data:`METHODS` maps a name to its :class:`~mmft_kit.method.Method`: its run config, its runner and
its capabilities. Importing this module imports both method families, so the table is whole:

* family ``clip`` (:mod:`mmft_kit.train`): ``mmft``, ``flyp``, ``flyp_ens``, ``ce``, ``zeroshot``;
* family ``frozen`` (:mod:`mmft_kit.train.frozen`): ``linear_probe``, ``tip_adapter``, ``tip_adapter_f``, ``lp_pp``;
* family ``pare`` (:mod:`mmft_kit.pare`): ``scratch``, ``finetune``, ``orca``, ``pare``, ``pare_random_gate``.

Example::

    from mmft_kit.methods import make_config, run
    result = run(make_config("pare", task="darcy", epochs=4))
    result = run(make_config("linear_probe", dataset="badges", shots=4))

:func:`register_method` adds a method from outside the package; the train command line, the
notebooks' method choices, the batch grids and the benchmarks' options then offer it.
"""

from __future__ import annotations

from typing import Any

from . import train  # noqa: F401, I001  (each family registers its methods when imported, in this order)
from . import pare  # noqa: F401, I001
from .method import METHODS, Method, get_method, listing, register_method, run
from .params.fields import RunParams


def make_config(method: str, **values: Any) -> RunParams:
    """The run config of ``method`` (its own config class) with ``values``, checked."""
    return get_method(method).make_config(**values)


def methods_of(family: str) -> list[str]:
    """The names of the methods of ``family``, in registration order."""
    return [name for name, method in METHODS.items() if method.family == family]


__all__ = ["METHODS", "Method", "get_method", "listing", "make_config", "methods_of", "register_method", "run"]
