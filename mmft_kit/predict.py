"""Prediction on image files: find them, classify them in batches, skip and list the unreadable ones, write CSV."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Sequence

import torch
from tqdm.auto import tqdm

from .classifier import CLASSIFIER_FILE, Classifier, load_classifier
from .data.images import load_rgb
from .errors import InvalidInputError, UnreadableImageError
from .runtime import bar_options

#: File endings taken from folders (files named directly are always tried).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def find_images(paths: Sequence[str | Path]) -> list[Path]:
    """The files named and the image files under the folders named (recursively, sorted)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.exists():
            found.append(path)
        else:
            raise InvalidInputError(f"{path} does not exist: give image files or folders of images")
    if not found:
        raise InvalidInputError(f"no image files in {list(map(str, paths))} (looked for {', '.join(IMAGE_SUFFIXES)})")
    return found


def _read_classnames(values: Sequence[str]) -> list[str]:
    if len(values) == 1 and Path(values[0]).is_file():
        return [line.strip() for line in Path(values[0]).read_text().splitlines() if line.strip()]
    return list(values)


def load_any_classifier(model: str, classnames: Sequence[str] | None = None, pretrained: str | None = None,
                        device: str | None = None) -> Classifier:
    """A saved classifier (its folder or a run folder holding ``classifier/``), or a zero-shot classifier of
    any CLIP the kit loads over ``classnames`` with the single prompt ``a photo of a {c}.``."""
    from .baselines.heads import CosineHead
    from .inference import prompt_head
    from .models import load_clip, missing_folder, no_such_folder

    if (missing := missing_folder(model)) is not None:
        raise no_such_folder(missing, "a saved classifier, a run folder holding classifier/, or a CLIP")
    folder = Path(model)
    for candidate in (folder, folder / "classifier"):
        if (candidate / CLASSIFIER_FILE).is_file():
            if classnames:
                raise InvalidInputError(
                    f"{candidate} is a saved classifier with its own class names: drop --classnames")
            return load_classifier(candidate, device=device)
    if not classnames:
        raise InvalidInputError(
            f"{model} is not a saved classifier (no {CLASSIFIER_FILE}); to classify zero-shot with it, "
            "give the class names (--classnames NAME ... or a file with one per line)"
        )
    names = _read_classnames(classnames)
    clip, preprocess, tokenizer = load_clip(model, pretrained, device=device)
    head = CosineHead(prompt_head(clip, tokenizer, names), float(clip.logit_scale.detach().exp()))
    return Classifier(clip, preprocess, head, names, head.rule, info={"zero_shot": model})


def predict_files(classifier: Classifier, files: Sequence[Path], batch_size: int = 64, top: int = 5,
                  progress: bool = True) -> tuple[list[dict], list[tuple[str, str]]]:
    """Classify ``files`` in batches; an unreadable file is skipped and listed, never the end of the job.

    Returns:
        ``(rows, skipped)``: per readable file ``{"path", "prediction", "top": [(class, probability), ...]}``,
        and ``(path, reason)`` for each skipped file.
    """
    rows, skipped = [], []
    top = min(top, len(classifier.classnames))
    bar = tqdm(total=len(files), desc="predict", unit="image", **bar_options(progress))
    for start in range(0, len(files), batch_size):
        tensors, kept = [], []
        for path in files[start:start + batch_size]:
            try:
                tensors.append(classifier.preprocess(load_rgb(path)))
                kept.append(path)
            except UnreadableImageError as err:
                skipped.append((str(path), str(err)))
        if tensors:
            probabilities = classifier.probabilities(torch.stack(tensors))
            values, indices = probabilities.topk(top, dim=1)
            for path, vals, idxs in zip(kept, values.tolist(), indices.tolist()):
                ranked = [(classifier.classnames[i], p) for i, p in zip(idxs, vals)]
                rows.append({"path": str(path), "prediction": ranked[0][0], "top": ranked})
        bar.update(len(files[start:start + batch_size]))
    bar.close()
    return rows, skipped


def write_predictions(rows: Sequence[dict], out: str | Path | None, top: int = 5) -> None:
    """CSV with ``path, prediction, top1, p1, …, topK, pK`` (to ``out``, or standard output when None)."""
    from .io import atomic_write_text

    header = ["path", "prediction"] + [f"{kind}{k}" for k in range(1, top + 1) for kind in ("top", "p")]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        ranked = [value for name, p in row["top"][:top] for value in (name, f"{p:.6f}")]
        writer.writerow([row["path"], row["prediction"], *ranked])
    if out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        atomic_write_text(out, buffer.getvalue())
