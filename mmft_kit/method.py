"""What a method is, and the table of methods: :class:`Method`, :data:`METHODS`, :func:`register_method`.

A method declares its run config (a :class:`~mmft_kit.params.fields.RunParams` model built from the
shared field groups), its ``run(config) -> RunResult`` and what it can do. The method families
register their own methods when imported (``mmft_kit.train``: the CLIP methods and the frozen
baselines; ``mmft_kit.pare``: PaRe and its baselines); :mod:`mmft_kit.methods` imports both, so its
:data:`METHODS` is the whole table. Add a method from outside the package, as open_clip's
``add_model_config`` adds a model::

    from mmft_kit.methods import Method, register_method
    register_method(Method("toy", "what it does", config=ToyConfig, run=run_toy, family="toy"))

This module sits at the bottom of the package (it imports nothing of the kit but its errors), so a
config can check its ``method`` field against the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .errors import InvalidInputError


@dataclass(frozen=True)
class Method:
    """One method: its name, meaning, run config and runner, and its capabilities.

    Args:
        name: what ``config.method`` holds.
        description: one line on what it trains and how it classifies (the README's method table).
        config: its run config class (a :class:`~mmft_kit.params.fields.RunParams` subclass).
        run: ``run(config) -> RunResult`` with the model and the scored head attached.
        family: the family it belongs to (``clip``, ``frozen``, ``pare``, or the registrant's own).
        trains_weights: whether a run changes the start model's weights (WiSE-FT needs that).
        uses_captions: whether it trains on synthetic captions.
        wise_ft: whether WiSE-FT interpolation applies to its runs.
        metric: what ``RunResult.test`` measures.
        higher_is_better: which way ``metric`` points.
    """

    name: str
    description: str
    config: type
    run: Callable[[Any], Any]
    family: str
    trains_weights: bool = True
    uses_captions: bool = False
    wise_ft: bool = False
    metric: str = "accuracy"
    higher_is_better: bool = True

    def make_config(self, **values: Any) -> Any:
        """This method's run config with ``values`` (checked; the method filled in)."""
        return self.config(**{**values, "method": self.name})


#: Every registered method by name, in registration order.
METHODS: dict[str, Method] = {}


def register_method(method: Method, replace: bool = False) -> Method:
    """Add ``method`` to :data:`METHODS` (``replace``: allow a name that is already taken).

    Raises:
        InvalidInputError: the name is taken (and ``replace`` is False), or ``method.config`` has no
            ``method`` field.
    """
    if method.name in METHODS and not replace and METHODS[method.name] != method:
        raise InvalidInputError(f"method {method.name!r} is already registered ({METHODS[method.name].description}); "
                                "pick another name or pass replace=True")
    if "method" not in getattr(method.config, "model_fields", {}):
        raise InvalidInputError(f"the config of method {method.name!r} ({method.config.__name__}) has no 'method' "
                                "field: build it on mmft_kit.params.RunParams")
    METHODS[method.name] = method
    return method


def listing(names: list[str] | None = None) -> str:
    """``name: description`` of each method (all by default), one per line."""
    return "\n".join(f"  {n}: {METHODS[n].description}" for n in (names or list(METHODS)))


def get_method(name: str) -> Method:
    """The registered method ``name``; else an error listing the methods."""
    if name not in METHODS:
        raise InvalidInputError(f"unknown method {name!r}; choose one of {list(METHODS)} (the methods registered so "
                                f"far; `import mmft_kit.methods` registers every built-in family):\n{listing()}")
    return METHODS[name]


def check_config_method(config_class: type, name: str) -> str:
    """``name`` if it is a method whose runs ``config_class`` configures; else a ValueError saying which
    config the method takes (a config subclass serves its parent's methods too)."""
    method = get_method(name)
    if not issubclass(config_class, method.config):
        raise ValueError(f"method {name!r} runs with {method.config.__name__}, not {config_class.__name__}: make its "
                         f"config with mmft_kit.methods.make_config({name!r}, ...)")
    return name


def run(config: Any) -> Any:
    """Run ``config`` with its method's runner: a :class:`~mmft_kit.records.RunResult` with the model and
    the scored head attached."""
    return get_method(config.method).run(config)
