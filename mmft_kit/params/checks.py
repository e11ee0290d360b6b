"""Checks of parameters against the registry and the disk: data sets, models, templates, class sizes.

Types and ranges are the models' business (pydantic); these checks need the data sets and the
model names, so they run once the types are right — in a notebook right after its parameters
cell, before any work. Each raises the kit's error with a message saying what to change.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from ..errors import DatasetNotFoundError, InvalidInputError, ModelNotAvailableError


def check_dataset(name: str, root: str | None = None) -> None:
    """Raise DatasetNotFoundError unless data set ``name`` is known and its train split loads."""
    from ..train.data import load_split

    load_split(name, root, "train")


def check_shots(dataset: str, shots: int | None, seed: int, root: str | None = None) -> None:
    """Raise InvalidInputError if some class of ``dataset``'s few-shot pool has fewer than ``shots`` images
    (the pool the trainer draws from, so the check agrees with training)."""
    from ..train import TrainConfig, load_run_data

    load_run_data(TrainConfig(dataset=dataset, root=root, shots=shots, seed=seed))


def _check_embedded(name: str, kind: str) -> bool:
    """True if ``name`` is ``embedded`` / ``embedded:SIZE`` with a known size; False if it is no embedded name."""
    from ..models import embedded_size

    size = embedded_size(name)
    if size is None:
        return False
    if kind == "clip":
        from ..embedded.clip import CLIP_RECIPES as recipes
    else:
        from ..embedded.vlm import VLM_RECIPES as recipes
    if size not in recipes:
        raise ModelNotAvailableError(
            f"unknown embedded {kind} size {size!r} in {name!r}; choose one of "
            + ", ".join(repr("embedded" if s == "default" else f"embedded:{s}") for s in recipes))
    return True


def check_clip(name: str, pretrained: str | None = None) -> None:
    """Raise ModelNotAvailableError unless ``name`` (with ``pretrained``) names a CLIP
    :func:`mmft_kit.models.load_clip` takes: ``embedded[:SIZE]``, a model folder, ``local-dir:``,
    ``hf-hub:``, or an open_clip model name with a tag or checkpoint file as ``pretrained``."""
    from ..models import CLIP_CHOICES, missing_folder, no_such_folder

    if (missing := missing_folder(name)) is not None:
        raise no_such_folder(missing, CLIP_CHOICES)
    folder = Path(name.removeprefix("local-dir:")).expanduser()
    if _check_embedded(name, "clip") or name.startswith(("hf-hub:", "local-dir:")) or folder.is_dir():
        if pretrained is not None:
            raise ModelNotAvailableError(f"pretrained={pretrained!r} applies to open_clip model names, not to {name!r}")
        if not name.startswith(("embedded", "hf-hub:")) \
                and not (folder / "open_clip_config.json").is_file():
            raise ModelNotAvailableError(f"{str(folder)!r} is no open_clip model folder (no open_clip_config.json)")
        return
    import open_clip

    known = open_clip.list_models()
    if name.replace("/", "-") not in known:
        close = difflib.get_close_matches(name, known, n=4)
        raise ModelNotAvailableError(
            f"unknown CLIP model {name!r}" + (f"; did you mean {close}?" if close else "")
            + ". Give 'embedded' (the kit's CLIP), 'embedded:ci', an open_clip model name or a model folder.")
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained is not None and pretrained not in tags and not Path(pretrained).expanduser().is_file():
        raise ModelNotAvailableError(f"pretrained={pretrained!r} is neither a tag of {name} ({tags}) "
                                     "nor a checkpoint file")


def check_captioner(name: str) -> None:
    """Raise ModelNotAvailableError unless ``name`` names a captioner: ``label``, ``embedded[:SIZE]``,
    ``openai:MODEL`` (a served model), a model folder, or a hub id ``ORG/NAME`` (whether a hub or served
    model can be had shows when it is loaded)."""
    served = name.startswith("openai:") and bool(name.removeprefix("openai:").strip())
    if name == "label" or served or _check_embedded(name, "vlm") or Path(name).expanduser().is_dir():
        return
    parts = name.split("/")
    if len(parts) == 2 and all(parts) and not any(c.isspace() for c in name):
        return
    raise ModelNotAvailableError(
        f"unknown captioner {name!r}: give 'embedded' (the kit's VLM), 'embedded:ci', 'label' (class-name text "
        "only), 'openai:MODEL' (a served model), a transformers model folder, or a hub id such as ORG/NAME")


def check_target_task(name: str) -> None:
    """Raise DatasetNotFoundError unless ``name`` is a built-in PaRe target task."""
    from ..pare import TASKS

    if name not in TASKS:
        raise DatasetNotFoundError(f"unknown PaRe target task {name!r}; built-in tasks are {sorted(TASKS)}")


def check_classes(dataset: str, classes: list[str], root: str | None = None) -> None:
    """Raise InvalidInputError if a name of ``classes`` is no class of ``dataset``."""
    from ..train.data import load_split

    known = load_split(dataset, root, "train").classnames
    unknown = [c for c in classes if c not in known]
    if unknown:
        raise InvalidInputError(f"classes {unknown} are not classes of {dataset!r}; its classes: {known}")


def check_resources(values: dict[str, Any]) -> None:
    """Every check that applies to the parameters ``values`` (a validated model's dump), in a cheap-first order."""
    if "clip" in values:
        check_clip(values["clip"], values.get("pretrained"))
    if "body" in values and values["body"] != "tiny-random":
        check_clip(values["body"])
    if "captioner" in values:
        check_captioner(values["captioner"])
    if "task" in values:
        check_target_task(values["task"])
    if values.get("template") is not None:
        from ..captions import resolve_template

        resolve_template(values["template"])
    if "dataset" in values:
        check_dataset(values["dataset"], values.get("root"))
        if "shots" in values:
            seed = values["seeds"][0] if "seeds" in values else values.get("seed", 0)
            check_shots(values["dataset"], values["shots"], seed, values.get("root"))
        if values.get("classes"):
            check_classes(values["dataset"], values["classes"], values.get("root"))
