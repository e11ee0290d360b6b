"""Few-shot sampling and stratified splits, reproducible for a seed on any machine.

Every draw is made per class from ``numpy.random.SeedSequence((seed, stream, class))``, so it
depends on nothing but the seed, the labels and the class index (not on Python's hash seed,
the process or the other classes), and the ``N``-shot set of a seed is contained in its
``M``-shot set for ``N < M``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import UnidentifiedImageError
from torch.utils.data import Dataset, Subset

from ..errors import InvalidInputError
from .items import item_path

_FEW_SHOT_STREAM = 0
_HOLDOUT_STREAM = 1


class LabelledSubset(Subset):
    """A ``Subset`` that keeps the kit's data set interface: ``classnames``, ``domain``, ``targets``.

    ``targets[i]`` is the label of item ``i`` of the subset; ``indices[i]`` is its index in the
    underlying ``dataset``. An image that cannot be read raises an error naming the item (and
    its file where the underlying data set records paths).
    """

    def __init__(
        self,
        dataset: Dataset,
        indices: Sequence[int],
        targets: Sequence[int],
        classnames: Sequence[str],
        domain: str,
        name: str | None = None,
    ) -> None:
        indices = [int(i) for i in indices]
        targets = [int(t) for t in targets]
        if len(indices) != len(targets):
            raise InvalidInputError(f"{len(indices)} indices but {len(targets)} labels")
        if not classnames:
            raise InvalidInputError("classnames is empty: give one name per class")
        bad = [t for t in targets if not 0 <= t < len(classnames)]
        if bad:
            raise InvalidInputError(
                f"labels must lie in [0, {len(classnames) - 1}] for {len(classnames)} class names; got {bad[:5]}"
            )
        super().__init__(dataset, indices)
        self.targets = targets
        self.classnames = list(classnames)
        self.domain = domain
        self.name = name if name is not None else getattr(dataset, "name", type(dataset).__name__)

    @property
    def split_hash(self) -> str:
        """A stable fingerprint of ``indices`` (see :func:`split_hash`)."""
        return split_hash(self.indices)

    @property
    def attributes(self) -> list[dict] | None:
        """Per-item ground-truth attributes when the underlying data set has them (world data)."""
        base = getattr(self.dataset, "attributes", None)
        return None if base is None else [base[i] for i in self.indices]

    def __getitem__(self, index: int):
        try:
            return super().__getitem__(index)
        except (OSError, UnidentifiedImageError, SyntaxError) as err:
            where = item_path(self.dataset, self.indices[index])
            raise InvalidInputError(
                f"could not read item {index} (index {self.indices[index]} of {self.name!r})"
                f"{f', file {where}' if where else ''}: {err}. Replace or remove the broken file."
            ) from err

    def __getitems__(self, indices: list[int]) -> list:
        return [self[i] for i in indices]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, n={len(self)}, classes={len(self.classnames)}, "
            f"domain={self.domain!r})"
        )


def split_hash(indices: Sequence[int]) -> str:
    """A short SHA-256 fingerprint of an index list, equal on every machine and Python run."""
    text = ",".join(str(int(i)) for i in indices)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


def _targets_of(dataset: Dataset) -> np.ndarray:
    targets = getattr(dataset, "targets", None)
    if targets is None:
        raise InvalidInputError(
            f"{type(dataset).__name__} has no .targets: pass a data set from mmft_kit.data.get_dataset "
            "or one that lists its labels in .targets"
        )
    return np.asarray(targets, dtype=np.int64)


def _by_class(targets: np.ndarray, num_classes: int) -> list[np.ndarray]:
    """Indices of each class (ascending), for classes ``0 .. num_classes - 1``."""
    order = np.argsort(targets, kind="stable")
    bounds = np.searchsorted(targets[order], np.arange(num_classes + 1))
    return [order[bounds[c]:bounds[c + 1]] for c in range(num_classes)]


def _permutation(members: np.ndarray, seed: int, stream: int, label: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence((int(seed), stream, int(label))))
    return rng.permutation(members)


def _subset(dataset: Dataset, indices: Sequence[int], targets: np.ndarray) -> LabelledSubset:
    return LabelledSubset(
        dataset, indices, targets[np.asarray(indices, dtype=np.int64)].tolist(),
        getattr(dataset, "classnames", None) or [], getattr(dataset, "domain", ""),
    )


def _num_classes(dataset: Dataset, targets: np.ndarray) -> int:
    classnames = getattr(dataset, "classnames", None)
    if not classnames:
        raise InvalidInputError(f"{type(dataset).__name__} has no .classnames: it needs one name per class")
    if len(targets) and (targets.min() < 0 or targets.max() >= len(classnames)):
        raise InvalidInputError(
            f"labels must lie in [0, {len(classnames) - 1}] for {len(classnames)} class names; "
            f"got range [{targets.min()}, {targets.max()}]"
        )
    return len(classnames)


def few_shot(dataset: Dataset, shots: int, seed: int) -> LabelledSubset:
    """Draw ``shots`` images of every class of ``dataset`` (by ``dataset.targets``), reproducibly.

    The result's ``indices`` are sorted. A class with fewer than ``shots`` images is an error,
    not a silent shortfall: the few-shot benchmark must compare like with like.
    """
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise InvalidInputError(f"shots must be a whole number ≥ 1; got {shots!r}")
    targets = _targets_of(dataset)
    classnames = list(getattr(dataset, "classnames", None) or [])
    members = _by_class(targets, _num_classes(dataset, targets))
    short = [(c, len(m)) for c, m in enumerate(members) if len(m) < shots]
    if short:
        listing = ", ".join(f"{classnames[c]!r} has {n}" for c, n in short[:5])
        more = f" (and {len(short) - 5} more classes)" if len(short) > 5 else ""
        raise InvalidInputError(
            f"asked for {shots} shots per class but {listing}{more} image(s); "
            f"choose shots ≤ {min(n for _, n in short)} or use a larger split"
        )
    chosen = [_permutation(m, seed, _FEW_SHOT_STREAM, c)[:shots] for c, m in enumerate(members)]
    return _subset(dataset, sorted(int(i) for i in np.concatenate(chosen)), targets)


def stratified_split(targets: Sequence[int], holdout_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Split indices into (kept, held out), holding out ``holdout_fraction`` of every class.

    Each class with at least two items gives ``round(fraction · n)`` items (at least one, at
    most ``n − 1``) to the held-out part; both lists are sorted.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise InvalidInputError(f"the held-out fraction must lie strictly between 0 and 1; got {holdout_fraction}")
    targets = np.asarray(targets, dtype=np.int64)
    if len(targets) == 0:
        return [], []
    kept, held = [], []
    for label, members in enumerate(_by_class(targets, int(targets.max()) + 1)):
        n = len(members)
        n_held = min(max(1, round(holdout_fraction * n)), n - 1) if n >= 2 else 0
        perm = _permutation(members, seed, _HOLDOUT_STREAM, label)
        held.extend(perm[:n_held].tolist())
        kept.extend(perm[n_held:].tolist())
    return sorted(kept), sorted(held)


def train_val_split(
    dataset: Dataset, val_fraction: float = 0.1, seed: int = 0
) -> tuple[LabelledSubset, LabelledSubset]:
    """A stratified hold-out for data sets without a validation split: ``(train, val)`` subsets."""
    targets = _targets_of(dataset)
    _num_classes(dataset, targets)
    train_idx, val_idx = stratified_split(targets, val_fraction, seed)
    return _subset(dataset, train_idx, targets), _subset(dataset, val_idx, targets)


# ---------------------------------------------------------------------------------------------
# Split files in the format CoOp popularised: {"train": [[item, label, classname], ...], "val": ..., "test": ...}
# ---------------------------------------------------------------------------------------------

#: Version of the split-file layout written by :func:`write_split`.
SPLIT_FORMAT = "coop-json-1"


def split_items(dataset: Dataset, indices: Sequence[int], labels: Sequence[int], classnames: Sequence[str],
                root: str | Path | None = None) -> list[list]:
    """``[item, label, classname]`` per index: ``item`` is the image's path relative to ``root`` where the
    data set records files and ``root`` is given (CoOp's ``impath``), else the index itself."""
    items = []
    for index, label in zip(indices, labels):
        where = item_path(dataset, int(index)) if root is not None else None  # a subset's: its base data set's
        item: int | str = int(index)
        if where is not None:
            try:
                item = Path(where).resolve().relative_to(Path(root).resolve()).as_posix()
            except ValueError:
                item = int(index)
        items.append([item, int(label), classnames[int(label)]])
    return items


def write_split(path: str | Path, splits: dict[str, list[list]], **about) -> None:
    """Write ``splits`` (``{"train": split_items(...), "val": ..., "test": ...}``) as a JSON split file
    (atomically); ``about`` records what it is (data set, shots, seed, what the indices index)."""
    from ..io import atomic_write_json

    unknown = sorted(set(splits) - {"train", "val", "test"})
    if unknown:
        raise InvalidInputError(f"split names must be train, val and test; got {unknown}")
    atomic_write_json(path, {"format": SPLIT_FORMAT, **about, **splits})


def read_split(path: str | Path) -> dict:
    """A split file written by :func:`write_split` (or CoOp's ``split_*.json``: train/val/test lists)."""
    import json

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"cannot read split file {path}: {err}") from err
    missing = [name for name in ("train", "test") if name not in data]
    if missing:
        raise InvalidInputError(f"split file {path} lacks {missing}: a split file has train, val and test lists "
                                "of [image, label, classname]")
    for name in ("train", "val", "test"):
        for item in data.get(name, []):
            if not (isinstance(item, list) and len(item) == 3):
                raise InvalidInputError(f"split file {path}: {name} holds {item!r}, not [image, label, classname]")
    return data


def split_indices(split: dict, name: str) -> list[int]:
    """The indices of split ``name`` of a read split file (an error where items are paths)."""
    items = split.get(name, [])
    if any(not isinstance(item, int) for item, _, _ in items):
        raise InvalidInputError(f"split {name!r} lists image paths, not indices: match them to your files")
    return [int(item) for item, _, _ in items]
