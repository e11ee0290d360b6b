"""Checks of a notebook's parameters against the registry and the disk: data sets, models, templates, class sizes.

Types and ranges are the models' business (pydantic); these checks need the data sets and the
model names, so they run once the types are right — in a notebook right after its parameters
cell, before any work. Names are checked by their loaders' own checks (:func:`mmft_kit.models.check_clip_name`,
...), which load nothing. Each raises the kit's error with a message saying what to change.
"""

from __future__ import annotations

from typing import Any

from ..captions import resolve_template
from ..errors import InvalidInputError
from ..models import check_captioner_name, check_clip_name
from ..pare.bodies import check_body_name
from ..pare.targets import check_task_name
from ..train import TrainConfig, load_run_data
from ..train.data import load_split


def check_dataset(name: str, root: str | None = None) -> None:
    """Raise DatasetNotFoundError unless data set ``name`` is known and its train split loads."""
    load_split(name, root, "train")


def check_shots(dataset: str, shots: int | None, seed: int, root: str | None = None) -> None:
    """Raise InvalidInputError if some class of ``dataset``'s few-shot pool has fewer than ``shots`` images
    (the pool the trainer draws from, so the check agrees with training)."""
    load_run_data(TrainConfig(dataset=dataset, root=root, shots=shots, seed=seed))


def check_classes(dataset: str, classes: list[str], root: str | None = None) -> None:
    """Raise InvalidInputError if a name of ``classes`` is no class of ``dataset``."""
    known = load_split(dataset, root, "train").classnames
    unknown = [c for c in classes if c not in known]
    if unknown:
        raise InvalidInputError(f"classes {unknown} are not classes of {dataset!r}; its classes: {known}")


def check_resources(values: dict[str, Any]) -> None:
    """Every check that applies to the parameters ``values`` (a validated model's dump), in a cheap-first order:
    the loaders' own name checks (nothing is loaded), then the data sets and their class sizes."""
    if "clip" in values:
        check_clip_name(values["clip"], values.get("pretrained"))
    if "body" in values:
        check_body_name(values["body"])
    if "captioner" in values:
        check_captioner_name(values["captioner"])
    if "task" in values:
        check_task_name(values["task"])
    if values.get("template") is not None:
        resolve_template(values["template"])
    if "dataset" in values:
        check_dataset(values["dataset"], values.get("root"))
        if "shots" in values:
            seed = values["seeds"][0] if "seeds" in values else values.get("seed", 0)
            check_shots(values["dataset"], values["shots"], seed, values.get("root"))
        if values.get("classes"):
            check_classes(values["dataset"], values["classes"], values.get("root"))
