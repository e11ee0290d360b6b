"""Figures and tables for the notebooks and benchmarks, and the numbers they show.

Nothing in the kit's core imports this module. Every function returns a matplotlib ``Figure``
(or plain data) and displays nothing itself; :meth:`mmft_kit.notebook_params.NotebookRun.show`
saves and shows a figure, :mod:`mmft_kit.widgets` redraws one when a control changes.

* tables: :func:`markdown_table`, :func:`table`;
* images and captions: :func:`sample_indices`, :func:`caption_grid`, :func:`preview_captions`,
  :func:`caption_preview`, :func:`caption_statistics`, :func:`clip_scores`, :func:`caption_figure`;
* training: :func:`learning_curves`, :func:`accuracy_figure`, :func:`predictions`, :func:`confusion_figure`;
* embeddings: :func:`embedding_view`, :func:`project`, :func:`separation_score`, :func:`embedding_figure`;
* PaRe: :func:`pare_curves`, :func:`gate_view`, :func:`gate_figure`.
"""

from __future__ import annotations

import re
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from .data.items import dataset_image, dataset_info, dataset_label
from .captions.prompts import build_prompt
from .data.world import ATTRIBUTES
from .errors import InvalidInputError
from .text import clean_classname

#: Words that count as talking about a characteristic (the characteristic's own name always does).
CHARACTERISTIC_WORDS: dict[str, frozenset[str]] = {
    "shape": frozenset({"shape", "outline", "edge", "edges", "corner", "corners", "side", "sides", "round", "curved",
                        "straight", "pointed", "angle", "angles", "tips", "arms", "contour", *ATTRIBUTES["shape"]}),
    "texture": frozenset({"texture", "pattern", "surface", "fill", "grain", "grainy", "smooth", "rough", "stripes",
                          "dots", "noise", "noisy", "bands", *ATTRIBUTES["fill"]}),
    "visual": frozenset({"colour", "color", "bright", "dark", "light", *ATTRIBUTES["colour"], *ATTRIBUTES["shape"]}),
    "color": frozenset({"colour", "color", "bright", "dark", "light", "hue", *ATTRIBUTES["colour"]}),
}
_WORD = re.compile(r"[a-z]+")


# -- tables -----------------------------------------------------------------------------------------
def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, digits: int = 3) -> str:
    """A Markdown table of ``rows`` (dicts); ``columns`` default to every key, in first-seen order."""
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c), digits) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, digits: int = 3):
    """``rows`` as a Markdown table a notebook displays."""
    from IPython.display import Markdown

    return Markdown(markdown_table(rows, columns, digits))


def aggregate(rows: Sequence[Mapping[str, Any]], by: str, keys: Sequence[str]) -> list[dict]:
    """Per value of ``by`` (first-seen order): how many rows, and the mean and standard deviation of each key."""
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[by], []).append(row)
    out = []
    for value, group in groups.items():
        entry: dict[str, Any] = {by: value, "runs": len(group)}
        for key in keys:
            values = [float(r[key]) for r in group]
            entry[key], entry[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
        out.append(entry)
    return out


# -- images ------------------------------------------------------------------------------------------
def as_picture(x: Any) -> np.ndarray:
    """An image to draw: PIL or uint8 ``(H, W, 3)`` as is; a ``(C, H, W)`` tensor rescaled to [0, 1]
    (3 channels in colour, 1 or more than 3 as grey from their mean)."""
    if isinstance(x, Image.Image):
        return np.asarray(x.convert("RGB"))
    array = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if array.ndim == 3 and array.shape[-1] == 3 and array.dtype == np.uint8:
        return array
    if array.ndim == 3:
        array = array.transpose(1, 2, 0) if array.shape[0] == 3 else array.mean(axis=0)
    low, high = float(array.min()), float(array.max())
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def sample_indices(dataset, count: int, seed: int = 0) -> list[int]:
    """``count`` indices of ``dataset``, one class after the other (so few samples still cover many classes)."""
    labels = np.asarray([dataset_label(dataset, i) for i in range(len(dataset))])
    rng = np.random.default_rng(seed)
    queues = [list(rng.permutation(np.flatnonzero(labels == c))) for c in np.unique(labels)]
    chosen: list[int] = []
    while len(chosen) < min(count, len(labels)):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(int(queue.pop()))
    return chosen


def caption_grid(images: Sequence[Any], texts: Sequence[str], titles: Sequence[str] | None = None,
                 row_labels: Sequence[str] | None = None, ncols: int | None = None, width: int = 34) -> Figure:
    """Images with a text block under each (wrapped to ``width`` characters), in rows of ``ncols``."""
    if len(images) != len(texts):
        raise InvalidInputError(f"{len(images)} images but {len(texts)} texts")
    if not images:
        raise InvalidInputError("no images to draw")
    ncols = ncols or min(len(images), 4)
    nrows = -(-len(images) // ncols)
    wrapped = ["\n".join(textwrap.fill(line, width) for line in t.splitlines()) for t in texts]
    text_lines = max(w.count("\n") + 1 for w in wrapped)
    cell_h = 2.2 + 0.16 * text_lines
    cell_w = max(2.8, 0.075 * width + 0.4)  # room for `width` monospace characters at 7 pt
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell_w * ncols, cell_h * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (image, text) in enumerate(zip(images, wrapped)):
        ax = axes.flat[i]
        ax.imshow(as_picture(image), cmap="gray", interpolation="nearest", aspect="equal")
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
        ax.text(0.5, -0.04, text, transform=ax.transAxes, ha="center", va="top", fontsize=7, family="monospace")
    if row_labels is not None:
        for r, label in enumerate(row_labels[:nrows]):
            axes[r, 0].text(-0.12, 0.5, label, transform=axes[r, 0].transAxes, rotation=90, ha="right",
                            va="center", fontsize=10, weight="bold")
    fig.subplots_adjust(hspace=0.25 + 0.06 * text_lines, wspace=0.2)
    return fig


# -- captions --------------------------------------------------------------------------------------
@dataclass
class CaptionSample:
    """One caption written for a preview, with its prompt and generation time."""

    index: int
    class_name: str
    characteristic: str
    prompt: str
    caption: str
    seconds: float

    @property
    def words(self) -> int:
        return len(self.caption.split())


def preview_captions(dataset, indices: Sequence[int], captioner, characteristic: str = "visual", words: int = 50,
                     template: str | None = None, domain: str | None = None,
                     class_name: str | None = None) -> list[CaptionSample]:
    """Caption the images at ``indices`` one by one (to time each) with the prompt these settings make.

    ``domain`` / ``class_name`` replace the data set's domain and each image's class in the prompt.
    """
    classnames, own_domain = dataset_info(dataset)
    samples = []
    for index in indices:
        name = class_name or classnames[dataset_label(dataset, index)]
        prompt = build_prompt(name, domain or own_domain, characteristic, words, template)
        start = time.perf_counter()
        caption = captioner.caption([dataset_image(dataset, index)], [prompt], [name])[0]
        samples.append(CaptionSample(index, name, characteristic, prompt, caption, time.perf_counter() - start))
    return samples


@dataclass
class CaptionPreview:
    """Captions of sample images for one or more characteristics, the figure and the summary table."""

    samples: dict[str, list[CaptionSample]]
    figure: Figure = field(repr=False)
    summary: list[dict] = field(default_factory=list)

    @property
    def prompt(self) -> str:
        """The prompt of the first sample."""
        return next(iter(self.samples.values()))[0].prompt

    def _ipython_display_(self) -> None:
        from IPython.display import Markdown, display

        display(Markdown(f"**Prompt** (first image): {self.prompt}"))
        display(self.figure)
        display(table(self.summary))


def caption_preview(dataset, captioner, characteristics: Sequence[str] = ("visual",), samples: int = 4, seed: int = 0,
                    words: int = 50, template: str | None = None, domain: str | None = None,
                    class_name: str | None = None, root: str | None = None) -> CaptionPreview:
    """Caption ``samples`` images of ``dataset`` (a data set or a registry name) once per characteristic.

    The figure has one row per characteristic: each image with its caption, word count and
    generation time; the summary has one row per characteristic (:func:`caption_statistics`).
    """
    if isinstance(dataset, str):
        from .train.data import load_split

        dataset = load_split(dataset, root, "train")
    indices = sample_indices(dataset, samples, seed)
    by_characteristic = {c: preview_captions(dataset, indices, captioner, c, words, template, domain, class_name)
                         for c in characteristics}
    flat = [s for row in by_characteristic.values() for s in row]
    figure = caption_grid(
        [dataset_image(dataset, s.index) for s in flat],
        [f"{s.caption}\n({s.words} words, {s.seconds:.2f} s)" for s in flat],
        titles=[s.class_name for s in flat],
        row_labels=list(by_characteristic) if len(by_characteristic) > 1 else None, ncols=len(indices),
    )
    summary = caption_statistics(flat)
    for row in summary:
        chosen = [s for s in flat if row["characteristic"] in ("all", s.characteristic)]
        row["seconds_per_caption"] = float(np.mean([s.seconds for s in chosen]))
    return CaptionPreview(by_characteristic, figure, summary)


def words_of(text: str) -> list[str]:
    """Lower-case words of ``text``."""
    return _WORD.findall(text.lower())


def characteristic_words(characteristic: str) -> frozenset[str]:
    """Words that talk about ``characteristic``: :data:`CHARACTERISTIC_WORDS`, else the name's own words."""
    return CHARACTERISTIC_WORDS.get(characteristic.lower(), frozenset(words_of(characteristic)))


def mentions_class(caption: str, class_name: str) -> bool:
    """Whether ``caption`` names the class (cleaned class name, as whole words)."""
    name = " ".join(words_of(clean_classname(class_name)))
    return bool(name) and f" {name} " in f" {' '.join(words_of(caption))} "


class CaptionRecord(NamedTuple):
    """One caption of one image."""

    index: int
    class_name: str
    characteristic: str
    caption: str


def caption_records(dataset, captions: Sequence[Sequence[str]], characteristics: Sequence[str]) -> list[CaptionRecord]:
    """Every caption of every image of ``dataset``; ``captions[i]`` holds image i's captions in the order
    of ``characteristics`` (as :func:`mmft_kit.captions.captions_for_dataset` returns them)."""
    classnames = dataset_info(dataset)[0]
    return [CaptionRecord(i, classnames[dataset_label(dataset, i)], c, caption)
            for i, own in enumerate(captions) for c, caption in zip(characteristics, own)]


def caption_statistics(records: Iterable[CaptionRecord | CaptionSample],
                       clip_scores: Sequence[float] | None = None) -> list[dict]:
    """Per characteristic and for ``all``: captions, mean and median words, vocabulary, the share of captions
    naming the class and using the characteristic's words, and (given one per record) the mean CLIP score."""
    records = list(records)
    if not records:
        raise InvalidInputError("no captions to describe")
    if clip_scores is not None and len(clip_scores) != len(records):
        raise InvalidInputError(f"{len(records)} captions but {len(clip_scores)} CLIP scores")
    groups: dict[str, list[int]] = {}
    for position, record in enumerate(records):
        groups.setdefault(record.characteristic, []).append(position)
    groups["all"] = list(range(len(records)))
    rows = []
    for name, positions in groups.items():
        group = [records[i] for i in positions]
        lengths = [len(r.caption.split()) for r in group]
        tokens = [set(words_of(r.caption)) for r in group]
        rows.append({
            "characteristic": name,
            "captions": len(group),
            "mean_words": float(np.mean(lengths)),
            "median_words": float(np.median(lengths)),
            "vocabulary": len(set().union(*tokens)),
            "class_name_rate": float(np.mean([mentions_class(r.caption, r.class_name) for r in group])),
            "characteristic_word_rate": float(np.mean([bool(t & characteristic_words(r.characteristic))
                                                       for t, r in zip(tokens, group)])),
        })
        if clip_scores is not None:
            rows[-1]["clip_score"] = float(np.mean([clip_scores[i] for i in positions]))
    return rows


@torch.no_grad()
def clip_scores(model, preprocess: Callable, tokenizer: Callable, images: Sequence[Image.Image],
                captions: Sequence[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of each image with its caption, and with a caption of another image (shuffled).

    The shuffled scores are the chance level the matched ones should clear.
    """
    from .inference import encode_images, encode_texts

    if len(images) != len(captions) or len(images) < 2:
        raise InvalidInputError(f"need two or more images with one caption each; got {len(images)} and {len(captions)}")
    pixels = torch.stack([preprocess(image) for image in images])
    labels = torch.zeros(len(images), dtype=torch.long)
    image_features, _ = encode_images(model, torch.utils.data.TensorDataset(pixels, labels))
    text_features = encode_texts(model, tokenizer, list(captions))
    matched = (image_features * text_features).sum(dim=1).numpy()
    shift = np.random.default_rng(seed).integers(1, len(images))
    shuffled = (image_features * text_features.roll(int(shift), dims=0)).sum(dim=1).numpy()
    return matched, shuffled


def caption_figure(records: Sequence[CaptionRecord], matched: np.ndarray | None = None,
                   shuffled: np.ndarray | None = None) -> Figure:
    """Caption lengths per characteristic, how often captions name the class and their characteristic's
    words, and (when given) image–caption CLIP scores against shuffled pairs."""
    stats = [row for row in caption_statistics(records) if row["characteristic"] != "all"]
    panels = 3 if matched is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.2))
    edges = np.histogram_bin_edges([len(r.caption.split()) for r in records], bins=15)
    for row in stats:
        lengths = [len(r.caption.split()) for r in records if r.characteristic == row["characteristic"]]
        axes[0].hist(lengths, bins=edges, alpha=0.6, label=row["characteristic"])
    axes[0].set(title="caption length", xlabel="words", ylabel="captions")
    axes[0].legend(fontsize=8)
    x = np.arange(len(stats))
    axes[1].bar(x - 0.2, [r["class_name_rate"] for r in stats], 0.4, label="names the class")
    axes[1].bar(x + 0.2, [r["characteristic_word_rate"] for r in stats], 0.4, label="uses its characteristic's words")
    axes[1].set_xticks(x, [r["characteristic"] for r in stats])
    axes[1].set(title="what captions mention", ylabel="share of captions", ylim=(0, 1.3))
    axes[1].legend(fontsize=8, loc="upper center")
    if matched is not None:
        bins = np.linspace(min(matched.min(), shuffled.min()), max(matched.max(), shuffled.max()), 20)
        axes[2].hist(matched, bins=bins, alpha=0.6, label=f"own image ({matched.mean():.3f})")
        axes[2].hist(shuffled, bins=bins, alpha=0.6, label=f"another image ({shuffled.mean():.3f})")
        axes[2].set(title="image–caption CLIP score", xlabel="cosine similarity")
        axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


# -- training -----------------------------------------------------------------------------------------
def _record(entry: Any) -> dict:
    return entry if isinstance(entry, Mapping) else vars(entry)


def learning_curves(histories: Mapping[str, Sequence[Any]]) -> Figure:
    """Training loss and validation accuracy per epoch, one line per run (``EpochRecord`` or dicts)."""
    fig, (loss_ax, val_ax) = plt.subplots(1, 2, figsize=(10, 3.4))
    for label, history in histories.items():
        records = [_record(r) for r in history]
        if not records:
            continue
        epochs = [r["epoch"] for r in records]
        loss_ax.plot(epochs, [r["loss"] for r in records], marker="o", ms=3, label=label)
        validated = [(r["epoch"], r["val_accuracy"]) for r in records if r.get("val_accuracy") is not None]
        if validated:
            val_ax.plot(*zip(*validated), marker="o", ms=3, label=label)
    loss_ax.set(title="training loss", xlabel="epoch", ylabel="loss")
    val_ax.set(title="validation accuracy", xlabel="epoch", ylabel="accuracy")
    for ax in (loss_ax, val_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_figure(rows: Sequence[Mapping[str, Any]], key: str = "test_accuracy", label: str = "method",
                    reference: float | None = None, reference_label: str = "zero-shot") -> Figure:
    """Mean ``key`` per ``label`` as bars, each run as a dot; an optional dashed reference line.
    The axis spans [0, 1] and stretches for values outside it (a silhouette can be negative)."""
    groups: dict[str, list[float]] = {}
    for row in rows:
        groups.setdefault(str(row[label]), []).append(float(row[key]))
    fig, ax = plt.subplots(figsize=(1.2 * len(groups) + 2.5, 3.2))
    x = np.arange(len(groups))
    means = [np.mean(v) for v in groups.values()]
    ax.bar(x, means, color=[f"C{i}" for i in range(len(groups))], alpha=0.75)
    for i, values in enumerate(groups.values()):
        ax.scatter(np.full(len(values), i), values, color="black", s=12, zorder=3)
        ax.text(i, max(means[i], 0.0) + 0.02, f"{means[i]:.3f}", ha="center", fontsize=8)
    if reference is not None:
        ax.axhline(reference, ls="--", color="grey", label=f"{reference_label} ({reference:.3f})")
        ax.legend(fontsize=8, loc="lower right")
    values = [v for group in groups.values() for v in group]
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(x, list(groups))
    ax.set(ylabel=key.replace("_", " "), ylim=(min(0.0, min(values) - 0.08), max(1.08, max(values) + 0.08)))
    fig.tight_layout()
    return fig


def predictions(result) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted test labels of a :class:`mmft_kit.train.RunResult` (its model and head)."""
    from .inference import predict
    from .train.data import Preprocessed

    test = Preprocessed(result.data.test, result.preprocess)
    logits = predict(result.model, result.head, test, batch_size=result.config.eval_batch_size)
    return np.asarray(test.targets), logits.argmax(dim=1).numpy()


def confusion_figure(y_true: Sequence[int], y_pred: Sequence[int], classnames: Sequence[str],
                     title: str = "") -> Figure:
    """Row-normalised confusion matrix (scikit-learn) with the class names."""
    from sklearn.metrics import ConfusionMatrixDisplay

    size = 1.0 + 0.55 * len(classnames)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=list(range(len(classnames))), display_labels=list(classnames), normalize="true",
        values_format=".2f", ax=ax, colorbar=False, xticks_rotation=45,
    )
    for text in ax.texts:
        text.set_fontsize(7)
    ax.set_title(title)
    fig.tight_layout()
    return fig


# -- embeddings -----------------------------------------------------------------------------------
@dataclass
class EmbeddingView:
    """L2-normalised embeddings from one model: images with labels, texts with labels, class prototypes."""

    images: np.ndarray
    image_labels: np.ndarray
    texts: np.ndarray
    text_labels: np.ndarray
    prototypes: np.ndarray


def embedding_view(model, tokenizer: Callable, preprocess: Callable, dataset, texts_by_class: Sequence[Sequence[str]],
                   head: torch.Tensor) -> EmbeddingView:
    """Embed the images of ``dataset`` and the texts of each class with ``model``; ``head`` rows are the prototypes."""
    from .inference import encode_images, encode_texts
    from .train.data import Preprocessed

    images, labels = encode_images(model, Preprocessed(dataset, preprocess))
    flat = [text for texts in texts_by_class for text in texts]
    text_labels = np.repeat(np.arange(len(texts_by_class)), [len(t) for t in texts_by_class])
    texts = encode_texts(model, tokenizer, flat).numpy() if flat else np.zeros((0, images.shape[1]), np.float32)
    return EmbeddingView(images.numpy(), labels.numpy(), texts, text_labels, head.float().cpu().numpy())


def fine_tuning_views(results: Mapping[str, Any]) -> dict[str, EmbeddingView]:
    """Embedding views of the test images before fine-tuning (``"before"``: the start model) and after each method.

    ``results``: method → :class:`mmft_kit.train.RunResult` of one seed. The texts are the
    ``mmft`` run's training captions when there is one (else the class prompts); the prototypes
    are each model's own class head (the start model's with the ``mmft`` rule when captions exist).
    """
    from .text import class_prompt
    from .train import class_head, load_start_model

    first = next(iter(results.values()))
    classnames = first.data.classnames
    captioned = results.get("mmft")
    texts = captioned.texts_by_class if captioned is not None else [[class_prompt(c)] for c in classnames]
    start, preprocess, tokenizer = load_start_model(first.config.model, first.config.pretrained)
    reference = "mmft" if captioned is not None else "flyp"
    before = class_head(reference, start, tokenizer, classnames, texts if reference == "mmft" else None)
    views = {"before": embedding_view(start, tokenizer, preprocess, first.data.test, texts, before)}
    for method, result in results.items():
        views[method] = embedding_view(result.model, result.tokenizer, result.preprocess,
                                                  result.data.test, texts, result.head)
    return views


def available_projections(asked: Sequence[str]) -> list[str]:
    """``asked`` without ``umap`` when umap-learn is not installed."""
    try:
        import umap  # noqa: F401
    except ImportError:
        return [p for p in asked if p != "umap"]
    return list(asked)


def project(points: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates of ``points`` by PCA, t-SNE (cosine) or UMAP (cosine)."""
    if len(points) < 3:
        raise InvalidInputError(f"need at least 3 points to project; got {len(points)}")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(points)
    if method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        perplexity = float(min(30.0, max(2.0, (len(points) - 1) / 3)))
        # one OpenMP thread: on a busy machine more threads spin-wait and run ten times slower
        with threadpool_limits(1, user_api="openmp"):
            return TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca",
                        random_state=seed).fit_transform(points)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, metric="cosine", random_state=seed).fit_transform(points)
    raise InvalidInputError(f"unknown projection {method!r}; choose pca, tsne or umap")


def separation_score(features: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette score (cosine) of ``features`` grouped by ``labels``: −1 … 1, higher is better separated."""
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        raise InvalidInputError("a separation score needs two or more classes")
    return float(silhouette_score(features, labels, metric="cosine"))


def embedding_figure(views: Mapping[str, EmbeddingView], classnames: Sequence[str], method: str = "pca",
                     classes: Sequence[str] | None = None, seed: int = 0) -> Figure:
    """One panel per view: images (dots), texts (triangles) and prototypes (stars) projected together,
    coloured by class; ``classes`` keeps only those classes. Each panel's title gives its silhouette."""
    keep = [classnames.index(c) for c in classes] if classes is not None else list(range(len(classnames)))
    if not keep:
        raise InvalidInputError("pick at least one class")
    fig, axes = plt.subplots(1, len(views), figsize=(4.6 * len(views), 4.2), squeeze=False)
    cmap = plt.get_cmap("tab10" if len(classnames) <= 10 else "tab20")
    for ax, (title, view) in zip(axes.flat, views.items()):
        img_mask, txt_mask = np.isin(view.image_labels, keep), np.isin(view.text_labels, keep)
        parts = [view.images[img_mask], view.texts[txt_mask], view.prototypes[keep]]
        xy = project(np.concatenate(parts), method, seed)
        cut = np.cumsum([len(p) for p in parts])
        img_xy, txt_xy, proto_xy = xy[: cut[0]], xy[cut[0]: cut[1]], xy[cut[1]:]
        for c in keep:
            colour = cmap(c % cmap.N)
            ax.scatter(*img_xy[view.image_labels[img_mask] == c].T, s=9, color=colour, alpha=0.55)
            if len(txt_xy):
                ax.scatter(*txt_xy[view.text_labels[txt_mask] == c].T, s=22, marker="^", color=colour,
                           alpha=0.8, edgecolors="none")
            ax.scatter(*proto_xy[keep.index(c)], s=260, marker="*", color=colour, edgecolors="black", linewidths=1.2)
        score = separation_score(view.images[img_mask], view.image_labels[img_mask]) if len(keep) > 1 else float("nan")
        ax.set_title(f"{title} — silhouette {score:.3f}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], ls="", marker=m, color="grey", markersize=s, label=l)
               for m, s, l in (("o", 5, "image"), ("^", 6, "caption"), ("*", 12, "prototype"))]
    handles += [plt.Line2D([], [], ls="", marker="s", color=cmap(c % cmap.N), label=classnames[c]) for c in keep]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.suptitle(f"{method.upper()} of image and caption embeddings", fontsize=11)
    fig.tight_layout()
    return fig


# -- PaRe -------------------------------------------------------------------------------------------
def pare_curves(runs: Mapping[str, Any]) -> Figure:
    """Per run (a ``RunResult`` of :func:`mmft_kit.pare.fit`): λ = k / N, training loss and validation metric
    per epoch."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
    metric = "metric"
    for label, run in runs.items():
        epochs = [e.epoch for e in run.history]
        metric = run.metric
        if any(e.k for e in run.history):
            axes[0].plot(epochs, [e.lam for e in run.history], marker="o", ms=3, label=label)
        axes[1].plot(epochs, [e.train_loss for e in run.history], marker="o", ms=3, label=label)
        axes[2].plot(epochs, [e.val_metric for e in run.history], marker="o", ms=3, label=label)
    axes[0].set(title="λ = k / N (share of replaced patches)", xlabel="epoch", ylabel="λ", ylim=(0, None))
    axes[1].set(title="training loss", xlabel="epoch")
    axes[2].set(title=f"validation {metric} (lower is better)", xlabel="epoch")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@dataclass
class GateView:
    """Gate scores and the patches chosen for ``k`` replacements on a few target and source samples."""

    k: int
    targets: torch.Tensor
    sources: torch.Tensor
    target_scores: torch.Tensor
    source_scores: torch.Tensor
    replaced: torch.Tensor
    taken: torch.Tensor
    target_layout: tuple
    target_patch: tuple
    source_layout: tuple
    source_patch: tuple


@torch.no_grad()
def gate_view(model, task, source, k: int, count: int = 4, start: int = 0) -> GateView:
    """Score the patches of ``count`` validation samples of ``task`` and as many source images with the
    model's gate; mark the ``k`` lowest-scored target slots and the ``k`` best source patches (top-k, as
    after the Gumbel epochs). ``k`` is clamped to the token counts."""
    from .pare import select_patches

    model.eval()
    device = next(model.parameters()).device
    targets = task.x_val[start: start + count]
    sources = source.images[start: start + count]
    n = min(len(targets), len(sources))
    targets, sources = targets[:n], sources[:n]
    target_scores = model.gate(model.embed(targets.to(device))).cpu()
    source_scores = model.gate(model.embed_source(sources.to(device))).cpu()
    k = int(min(max(k, 0), target_scores.shape[1], source_scores.shape[1]))
    keep, take = select_patches(target_scores, source_scores, k, differentiable=False)
    return GateView(k, targets, sources, target_scores, source_scores, 1.0 - keep, take,
                    tuple(model.embedder.layout), _patch_of(model.embedder),
                    tuple(model.source_embedder.layout), _patch_of(model.source_embedder))


def _patch_of(embedder) -> tuple:
    return tuple(getattr(embedder, "patch_size", None) or (getattr(embedder, "stride", 1),))


def _draw_tokens(ax, sample: torch.Tensor, layout: tuple, patch: tuple, scores: torch.Tensor,
                 chosen: torch.Tensor, colour: str) -> None:
    """One sample with its gate scores as a heat overlay and the chosen tokens outlined."""
    from matplotlib.patches import Rectangle

    if layout[0] == "grid":
        gh, gw = layout[1:]
        ax.imshow(as_picture(sample), cmap="gray", interpolation="nearest")
        heat = scores.reshape(gh, gw).numpy()
        ax.imshow(heat, cmap="magma", alpha=0.35, interpolation="nearest",
                  extent=(-0.5, gw * patch[1] - 0.5, gh * patch[0] - 0.5, -0.5))
        for index in torch.nonzero(chosen > 0.5).flatten().tolist():
            r, c = divmod(index, gw)
            ax.add_patch(Rectangle((c * patch[1] - 0.5, r * patch[0] - 0.5), patch[1], patch[0], fill=False,
                                   edgecolor=colour, linewidth=1.6))
        ax.set_xlim(-0.5, sample.shape[-1] - 0.5)
        ax.set_ylim(sample.shape[-2] - 0.5, -0.5)
        ax.axis("off")
    elif layout[0] == "seq":
        stride = patch[0]
        for channel in sample.numpy():
            ax.plot(channel, lw=0.6)
        for index in torch.nonzero(chosen > 0.5).flatten().tolist():
            ax.axvspan(index * stride, (index + 1) * stride, color=colour, alpha=0.3)
        ax.set_yticks([])
    else:  # one token per feature
        colours = [colour if c > 0.5 else "lightgrey" for c in chosen.tolist()]
        ax.bar(np.arange(len(sample)), sample.numpy(), color=colours)
        ax.set_xlabel("feature")


def gate_figure(view: GateView) -> Figure:
    """Top row: source images with the patches the gate takes (cyan); bottom row: target samples with the
    slots those patches replace (red). The heat overlay is the gate score of every patch."""
    n = len(view.targets)
    fig, axes = plt.subplots(2, n, figsize=(2.4 * n, 5.0), squeeze=False)
    for i in range(n):
        _draw_tokens(axes[0, i], view.sources[i], view.source_layout, view.source_patch, view.source_scores[i],
                     view.taken[i], "cyan")
        _draw_tokens(axes[1, i], view.targets[i], view.target_layout, view.target_patch, view.target_scores[i],
                     view.replaced[i], "red")
    axes[0, 0].set_title("source: patches taken", fontsize=9, loc="left")
    axes[1, 0].set_title("target: slots replaced", fontsize=9, loc="left")
    fig.suptitle(f"gate choices for k = {view.k} replaced patches", fontsize=11)
    fig.tight_layout()
    return fig
