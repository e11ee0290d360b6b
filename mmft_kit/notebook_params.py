"""The kit's notebooks around their own steps: checking parameters, and the run a notebook makes.

A notebook's first code cell (tagged ``parameters``) only assigns values; papermill may replace
them, from the command line as strings. The cell after it calls :func:`start_notebook`, which

* shows the interpreter and the kit's version (the kernel must run the kit's environment),
* checks every parameter against its expected type and range (strings such as ``"4"``,
  ``"true"`` or ``"0,1"`` are converted), then the ones that depend on each other or on the
  disk (unknown data set, more shots than a class has, unknown model), and fails there with one
  readable message,
* sets up progress bars: widget bars when ``interactive``, otherwise plain text lines at most
  every :data:`HEADLESS_MIN_INTERVAL` seconds (no wall of carriage returns in headless logs),
* makes the output folder, where :meth:`NotebookRun.show` saves figures and
  :meth:`NotebookRun.finish` writes the headline metrics (:data:`METRICS_NAME`).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Mapping

import yaml

from .errors import DatasetNotFoundError, InvalidInputError, ModelNotAvailableError
from .io import atomic_write_json

#: The file every notebook writes its headline metrics to, in its output folder.
METRICS_NAME = "metrics.json"
#: Seconds between two progress lines when not interactive.
HEADLESS_MIN_INTERVAL = 20.0
#: Projections of the embedding notebook (UMAP only where umap-learn is installed).
PROJECTIONS = ("pca", "tsne", "umap")


# -- one parameter: its type and range ---------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """What one parameter must be: ``kind`` (int, float, bool, str, int_list, str_list), optional, range, choices."""

    kind: str
    low: float | None = None
    high: float | None = None
    optional: bool = False
    choices: tuple[str, ...] | None = None

    def describe(self) -> str:
        text = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "a text",
                "int_list": "a list of whole numbers", "str_list": "a list of texts"}[self.kind]
        if self.low is not None and self.high is not None:
            text += f" in [{self.low:g}, {self.high:g}]"
        elif self.low is not None:
            text += f" ≥ {self.low:g}" if self.kind != "float" or self.low != 0 else " > 0"
        if self.choices:
            text += f" from {list(self.choices)}"
        return text + (" (or None)" if self.optional else "")


def _methods() -> tuple[str, ...]:
    from .train import METHODS

    return tuple(METHODS)


def _pare_methods() -> tuple[str, ...]:
    from .pare import METHODS

    return tuple(METHODS)


#: Every parameter the notebooks take, by name. Choices given as functions are looked up lazily.
SPECS: dict[str, Spec | Callable[[], Spec]] = {
    "dataset": Spec("str"),
    "root": Spec("str", optional=True),
    "clip": Spec("str"),
    "pretrained": Spec("str", optional=True),
    "captioner": Spec("str"),
    "template": Spec("str", optional=True),
    "characteristic": Spec("str"),
    "characteristics": Spec("str_list"),
    "words": Spec("int", 1, 500),
    "domain": Spec("str", optional=True),
    "class_name": Spec("str", optional=True),
    "samples": Spec("int", 1, 64),
    "limit": Spec("int", 1, optional=True),
    "caption_store": Spec("str", optional=True),
    "shots": Spec("int", 1),
    "seed": Spec("int", 0),
    "seeds": Spec("int_list", 0),
    "epochs": Spec("int", 1),
    "lr": Spec("float", 0),
    "batch_size": Spec("int", 1),
    "methods": lambda: Spec("str_list", choices=_methods()),
    "classes": Spec("str_list", optional=True),
    "projections": Spec("str_list", choices=PROJECTIONS),
    "task": Spec("str"),
    "body": Spec("str"),
    "output_dir": Spec("str"),
    "interactive": Spec("bool"),
}

#: Parameters whose spec differs in one notebook, by notebook name.
NOTEBOOK_SPECS: dict[str, dict[str, Callable[[], Spec]]] = {
    "04_embedding_visualisation": {"methods": lambda: Spec("str_list", choices=("flyp", "flyp_ens", "mmft"))},
    "05_pare_cross_modal": {"methods": lambda: Spec("str_list", choices=_pare_methods())},
}

_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def _spec(name: str, notebook: str | None = None) -> Spec:
    spec = NOTEBOOK_SPECS.get(notebook or "", {}).get(name) or SPECS.get(name)
    if spec is None:
        raise InvalidInputError(f"unknown notebook parameter {name!r}; known: {sorted(SPECS)}")
    return spec() if callable(spec) else spec


def _scalar(value: Any, kind: str) -> Any:
    """``value`` as ``kind`` (int, float, bool, str), converting strings; ValueError if it is not one."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError
        return value
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError
        value = float(value)
        if not math.isfinite(value):
            raise ValueError
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value.strip()


def _as_list(value: Any) -> list:
    """A list from a list, a tuple, a single value, or a string such as ``"[0, 1]"``, ``"0,1"`` or ``"0 1"``."""
    if isinstance(value, str):
        text = value.strip()
        parsed = yaml.safe_load(text) if text.startswith("[") else [p for p in text.replace(",", " ").split() if p]
        value = parsed
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def convert(name: str, value: Any, spec: Spec | None = None) -> Any:
    """``value`` of parameter ``name`` converted to its kind and checked against its range; ValueError if not."""
    spec = spec or _spec(name)
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
        if spec.optional:
            return None
        raise ValueError
    if spec.kind.endswith("_list"):
        items = [_scalar(v, spec.kind[:-5]) for v in _as_list(value)]
        if not items:
            raise ValueError
    else:
        items = [_scalar(value, spec.kind)]
    for item in items:
        if spec.kind.startswith(("int", "float")):
            if spec.low is not None and (item < spec.low or (spec.kind == "float" and spec.low == 0 and item == 0)):
                raise ValueError
            if spec.high is not None and item > spec.high:
                raise ValueError
        if spec.choices is not None and item not in spec.choices:
            raise ValueError
    return items if spec.kind.endswith("_list") else items[0]


def _type_check(values: Mapping[str, Any], notebook: str | None = None) -> dict[str, Any]:
    checked, problems = {}, []
    for name, value in values.items():
        spec = _spec(name, notebook)
        try:
            checked[name] = convert(name, value, spec)
        except (ValueError, TypeError, yaml.YAMLError):
            problems.append(f"  {name} = {value!r}: expected {spec.describe()}")
    if problems:
        raise InvalidInputError(
            "bad notebook parameters:\n" + "\n".join(problems)
            + "\nFix them in the parameters cell, or in the batch grid / command line (-p NAME VALUE)."
        )
    return checked


# -- checks against the registry and the disk ---------------------------------------------------
def check_dataset(name: str, root: str | None = None) -> None:
    """Raise DatasetNotFoundError unless data set ``name`` is known and its train split loads
    (an unknown name lists the known ones; a benchmark without its files says where they were looked for)."""
    from .train.data import load_split

    load_split(name, root, "train")


def check_shots(dataset: str, shots: int, seed: int, root: str | None = None) -> None:
    """Raise InvalidInputError if some class of ``dataset``'s few-shot pool has fewer than ``shots`` images.

    The pool is the one the trainer draws from (train minus the validation hold-out where the
    data set has no val split), so the check agrees with training.
    """
    from .train import TrainConfig, load_run_data

    load_run_data(TrainConfig(dataset=dataset, root=root, shots=shots, seed=seed))


def _embedded_sizes(kind: str) -> tuple[str, ...]:
    if kind == "clip":
        from .embedded.clip import CLIP_RECIPES as recipes
    else:
        from .embedded.vlm import VLM_RECIPES as recipes
    return tuple(recipes)


def _check_embedded(name: str, kind: str) -> bool:
    """True if ``name`` is ``embedded`` / ``embedded:SIZE`` with a known size; False if it is no embedded name."""
    if name != "embedded" and not name.startswith("embedded:"):
        return False
    size = name.partition(":")[2] or "default"
    sizes = _embedded_sizes(kind)
    if size not in sizes:
        raise ModelNotAvailableError(
            f"unknown embedded {kind} size {size!r} in {name!r}; choose one of "
            + ", ".join(repr("embedded" if s == "default" else f"embedded:{s}") for s in sizes)
        )
    return True


def check_clip(name: str, pretrained: str | None = None) -> None:
    """Raise ModelNotAvailableError unless ``name`` (with ``pretrained``) can name a CLIP for
    :func:`mmft_kit.models.load_clip`.

    Accepted: ``embedded`` / ``embedded:SIZE``, an open_clip model folder, ``local-dir:FOLDER``,
    ``hf-hub:ORG/REPO``, and open_clip model names with ``pretrained`` one of their tags or a
    checkpoint file (whether a tag's weights can be had offline shows when they are loaded).
    """
    folder = name.removeprefix("local-dir:")
    if _check_embedded(name, "clip") or name.startswith("hf-hub:") or Path(folder).expanduser().is_dir() \
            or name.startswith("local-dir:"):
        if pretrained is not None:
            raise ModelNotAvailableError(f"pretrained={pretrained!r} applies to open_clip model names, not to {name!r}")
        if not _check_embedded(name, "clip") and not name.startswith("hf-hub:") \
                and not (Path(folder).expanduser() / "open_clip_config.json").is_file():
            raise ModelNotAvailableError(f"{folder!r} is no open_clip model folder (no open_clip_config.json in it)")
        return
    import open_clip

    known = open_clip.list_models()
    if name.replace("/", "-") not in known:
        close = difflib.get_close_matches(name, known, n=4)
        raise ModelNotAvailableError(
            f"unknown CLIP model {name!r}" + (f"; did you mean {close}?" if close else "")
            + ". Give 'embedded' (the kit's CLIP), 'embedded:ci', an open_clip model name or a model folder."
        )
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained is not None and pretrained not in tags and not Path(pretrained).expanduser().is_file():
        raise ModelNotAvailableError(
            f"pretrained={pretrained!r} is neither a tag of {name} ({tags}) nor a checkpoint file")


def check_captioner(name: str) -> None:
    """Raise ModelNotAvailableError unless ``name`` can name a captioner for :func:`~mmft_kit.models.load_captioner`.

    Accepted: ``label``, ``embedded`` / ``embedded:SIZE``, ``openai:MODEL``, a model folder, or a hub id ``ORG/NAME``.
    """
    served = name.startswith("openai:") and bool(name.removeprefix("openai:").strip())
    if name == "label" or served or _check_embedded(name, "vlm") or Path(name).expanduser().is_dir():
        return
    parts = name.split("/")
    if len(parts) == 2 and all(parts) and not any(c.isspace() for c in name):
        return  # a hub id: whether it can be had is known only when it is loaded
    raise ModelNotAvailableError(
        f"unknown captioner {name!r}: give 'embedded' (the kit's VLM), 'embedded:ci', 'label' (class-name text "
        "only), 'openai:MODEL' (a served model), a transformers model folder, or a hub id such as ORG/NAME"
    )


def check_target_task(name: str) -> None:
    """Raise DatasetNotFoundError unless ``name`` is a built-in PaRe target task."""
    from .pare import TASKS

    if name not in TASKS:
        raise DatasetNotFoundError(f"unknown PaRe target task {name!r}; built-in tasks are {sorted(TASKS)}")


def _cross_check(p: dict[str, Any]) -> None:
    if "dataset" in p:
        check_dataset(p["dataset"], p.get("root"))
    if "clip" in p:
        check_clip(p["clip"], p.get("pretrained"))
    if "body" in p and p["body"] != "tiny-random":
        check_clip(p["body"])
    if "captioner" in p:
        check_captioner(p["captioner"])
    if "task" in p:
        check_target_task(p["task"])
    if p.get("template") is not None:
        from .captions import resolve_template

        resolve_template(p["template"])
    if "shots" in p and "dataset" in p:
        seed = p["seeds"][0] if "seeds" in p else p.get("seed", 0)
        check_shots(p["dataset"], p["shots"], seed, p.get("root"))
    if p.get("classes") and "dataset" in p:
        from .train.data import load_split

        known = load_split(p["dataset"], p.get("root"), "train").classnames
        unknown = [c for c in p["classes"] if c not in known]
        if unknown:
            raise InvalidInputError(f"classes {unknown} are not classes of {p['dataset']!r}; its classes: {known}")


def check_parameters(notebook: str | None = None, **values: Any) -> SimpleNamespace:
    """Check the parameters of ``notebook`` given by name; return them converted, as attributes.

    Specs come from :data:`SPECS`, with the notebook's own from :data:`NOTEBOOK_SPECS`. Types and
    ranges are checked first (all problems in one message), then the data set, the models, the
    template, the shots against the class sizes and the named classes. Raises InvalidInputError,
    DatasetNotFoundError or ModelNotAvailableError with a readable message.
    """
    checked = _type_check(values, notebook)
    _cross_check(checked)
    return SimpleNamespace(**checked)


# -- progress bars -------------------------------------------------------------------------------
class _Discard:
    """A file that forgets what is written to it (tqdm's own carriage-return writes go here)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _line_bar_class() -> type:
    from tqdm.std import tqdm as std_tqdm

    class LineTqdm(std_tqdm):
        """A text bar printing whole lines: the first, then at most one every ``mininterval`` seconds
        (also when the caller refreshes more often, e.g. through ``set_postfix``), and the last one."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("mininterval", HEADLESS_MIN_INTERVAL)
            kwargs.setdefault("ascii", True)
            self._lines = kwargs.pop("file", None) or sys.stdout
            self._last_line: float | None = None
            self._ended = False
            super().__init__(*args, file=_Discard(), **kwargs)

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            if self._ended or (msg is not None and not msg.strip()):
                return True  # done, or tqdm clearing a bar that does not stay: nothing to clear here
            ended = self.total is not None and self.n >= self.total
            now = time.monotonic()
            due = self._last_line is None or now - self._last_line >= self.mininterval
            if (ended and not self._ended) or (not ended and due):
                self._write(self.__str__() if msg is None else msg)
                self._last_line, self._ended = now, ended
            return True

        def close(self) -> None:
            if not self.disable and not self._ended and self._last_line is not None:
                self._write(self.__str__())  # the last state, also of bars without a total or left early
                self._ended = True
            super().close()

        def _write(self, line: str) -> None:
            self._lines.write(line.strip() + "\n")
            self._lines.flush()

    return LineTqdm


def configure_progress(interactive: bool) -> None:
    """Widget progress bars when ``interactive``; otherwise text lines at most every HEADLESS_MIN_INTERVAL s.

    The kit's modules use ``tqdm.auto.tqdm``; it is replaced (in ``tqdm.auto`` and in every
    already imported kit module) by a bar that writes whole lines, so headless logs and saved
    notebooks read well. Calling it again with ``True`` restores the notebook bars.
    """
    import tqdm.auto
    import tqdm.autonotebook

    original = getattr(tqdm.auto, "_mmft_original", tqdm.auto.tqdm)
    tqdm.auto._mmft_original = original
    current = tqdm.auto.tqdm
    bar = original if interactive else _line_bar_class()
    for module in (tqdm.auto, tqdm.autonotebook):
        module.tqdm = bar
    for name, module in list(sys.modules.items()):
        if name.startswith("mmft_kit") and getattr(module, "tqdm", None) in (current, original):
            module.tqdm = bar
    if not interactive:  # transformers' and the hub's own bars (model loading) stay quiet
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        if "transformers" in sys.modules:
            sys.modules["transformers"].utils.logging.disable_progress_bar()


# -- the run of one notebook ------------------------------------------------------------------------
@dataclass
class NotebookRun:
    """One execution of a notebook: its checked parameters, output folder, figures and metrics."""

    name: str
    params: SimpleNamespace
    output_dir: Path
    started: float = field(default_factory=time.perf_counter)
    figures: list[str] = field(default_factory=list)

    def path(self, name: str) -> Path:
        """A file in the output folder."""
        return self.output_dir / name

    def show(self, figure, name: str, display: bool = True) -> None:
        """Save ``figure`` as ``NAME.png`` in the output folder, display it (unless told not to), close it."""
        import matplotlib.pyplot as plt

        path = self.path(f"{name}.png")
        figure.savefig(path, dpi=100, bbox_inches="tight")
        if path.name not in self.figures:
            self.figures.append(path.name)
        try:
            if display:
                from IPython.display import display as show

                show(figure)
        finally:
            plt.close(figure)

    def finish(self, metrics: Mapping[str, Any], details: Mapping[str, Any] | None = None) -> None:
        """Write the headline ``metrics`` (flat name → number or text) and ``details`` to METRICS_NAME,
        and print the headline."""
        record = {
            "notebook": self.name,
            "parameters": vars(self.params),
            "metrics": dict(metrics),
            "details": dict(details or {}),
            "figures": list(self.figures),
            "seconds": round(time.perf_counter() - self.started, 2),
        }
        atomic_write_json(self.path(METRICS_NAME), record)
        print(f"{self.name}: {len(record['metrics'])} metrics and {len(self.figures)} figures in {self.output_dir} "
              f"({record['seconds']:.0f} s)")
        for key, value in record["metrics"].items():
            print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")


def environment_line() -> str:
    """The interpreter, its environment and the kit's version, in one line."""
    from . import __version__

    return f"python {sys.version.split()[0]} at {sys.executable} (prefix {sys.prefix}); mmft_kit {__version__}"


def start_notebook(name: str, **values: Any) -> NotebookRun:
    """Show the environment, check the parameters, set up progress bars and the output folder.

    ``values`` are the notebook's parameters by name; ``output_dir`` and ``interactive`` are required.
    """
    print(environment_line())
    missing = {"output_dir", "interactive"} - set(values)
    if missing:
        raise InvalidInputError(f"a notebook needs the parameters {sorted(missing)}")
    params = check_parameters(name, **values)
    configure_progress(params.interactive)
    output_dir = Path(params.output_dir).expanduser()
    output_dir.mkdir(parents=True, exist_ok=True)
    return NotebookRun(name, params, output_dir)


def read_metrics(folder: str | os.PathLike) -> dict:
    """The record a notebook wrote to ``folder``/METRICS_NAME."""
    path = Path(folder) / METRICS_NAME
    if not path.is_file():
        raise InvalidInputError(f"no {METRICS_NAME} in {folder}: the notebook did not finish")
    return json.loads(path.read_text(encoding="utf-8"))
