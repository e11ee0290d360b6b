"""A caption prompt's cheap downstream score: MMFT's head on the frozen start CLIP (WiSE-FT α = 0).

For a template, characteristics, word budget and captioner, :func:`score_prompt` captions ``shots`` training
images per class (the few-shot draw of a run with that seed), builds the class-average caption prototypes on
the unchanged start CLIP (:func:`mmft_kit.inference.caption_prototype_head`, MMFT's inference rule) and
classifies the validation images with them; it repeats this for ``draws`` seeds and reports the mean validation
accuracy with its standard error, beside the caption statistics notebook 01 shows (words, class-name and
characteristic-word use, time). Captions go through the run's caption store like every other caption, so a
second score of the same prompt captions nothing. Test data are never read.
"""

from __future__ import annotations

import string
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

import torch

from ..captions import CaptionStore, Captioner, build_prompt, caption_dataset, image_digest, resolve_template
from ..captions.generate import UNREADABLE_IMAGE_ERRORS
from ..captions.prompts import PLACEHOLDERS, default_characteristics
from ..captions.statistics import CaptionRecord, caption_statistics
from ..captions.training_text import training_text, truncation_report
from ..data.items import dataset_image, dataset_info, dataset_label
from ..errors import InvalidInputError
from ..inference import caption_prototype_head, class_logits, encode_images
from ..models import load_captioner
from ..params.prompts import PromptScoreParams
from ..report import mean_se
from .captions import store_path
from .config import TrainConfig
from .data import Preprocessed, load_run_data, texts_by_class
from .setup import load_start_model

#: What each placeholder left out of a template means for the captions.
OMITTED = {
    "class_name": "the captioner is not told the class (a class-agnostic ablation; the prototypes still carry "
                  "MMFT's 'a photo of a {class}.' prefix)",
    "domain": "the captioner is not told the domain",
    "characteristic": "every characteristic gets the same prompt, so one caption serves them all",
    "words": "the captioner is not given a word budget",
}


#: The columns a leaderboard shows, in order.
LEADERBOARD_COLUMNS = ("rank", "score", "se", "characteristics", "words", "domain", "mean_words", "characteristic_word_rate",
                       "seconds_per_caption", "seconds", "template", "notices")


class PromptScoreError(InvalidInputError):
    """A prompt that cannot be scored (the captioner wrote nothing for it)."""


@dataclass
class PromptScore:
    """One prompt's score: validation accuracy of the caption-prototype head per draw, caption statistics, time."""

    template: str
    characteristics: tuple[str, ...]
    words: int
    captioner: str
    dataset: str
    domain: str
    shots: int | None
    accuracies: list[float]
    statistics: list[dict]
    seconds: float
    caption_seconds: float
    captions_made: int
    captions_used: int
    truncated: float
    notices: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Mean validation accuracy over the draws."""
        return mean_se(self.accuracies)[0]

    @property
    def se(self) -> float:
        """Its standard error over the draws."""
        return mean_se(self.accuracies)[1]

    def row(self) -> dict[str, Any]:
        """A flat row for a leaderboard or a CSV: score ± s.e., words, time, characteristic-word use, notices."""
        overall = next(row for row in self.statistics if row["characteristic"] == "all")
        return {
            "dataset": self.dataset, "domain": self.domain, "template": self.template, "characteristics": "+".join(self.characteristics),
            "words": self.words,
            "score": self.score, "se": self.se, "draws": len(self.accuracies), "mean_words": overall["mean_words"],
            "class_name_rate": overall["class_name_rate"],
            "characteristic_word_rate": overall["characteristic_word_rate"],
            "seconds_per_caption": self.caption_seconds / self.captions_made if self.captions_made else None,
            "captions_made": self.captions_made, "seconds": self.seconds, "truncated": self.truncated,
            "notices": " | ".join(self.notices),
        }


class Leaderboard:
    """The prompts scored so far, best first: one row per data set, domain, template, characteristics and word
    budget (a prompt scored again replaces its row)."""

    def __init__(self) -> None:
        self._rows: dict[tuple, dict] = {}

    def add(self, score: PromptScore) -> dict:
        """Add (or replace) ``score``'s row; return it."""
        row = score.row()
        self._rows[(row["dataset"], row["domain"], row["template"], row["characteristics"], row["words"])] = row
        return row

    def rows(self) -> list[dict]:
        """Every row, best score first, with its rank."""
        ranked = sorted(self._rows.values(), key=lambda r: -r["score"])
        return [{"rank": position, **row} for position, row in enumerate(ranked, 1)]

    def __len__(self) -> int:
        return len(self._rows)


def template_notices(template: str) -> list[str]:
    """What a (valid) template leaves out, one sentence per missing placeholder."""
    used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    return [f"the template has no {{{name}}}: {OMITTED[name]}" for name in PLACEHOLDERS if name not in used]


@lru_cache(maxsize=32)
def _validation_features(clip: str, pretrained: str | None, dataset: str, root: str | None,
                         seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The start CLIP's features and the labels of the validation images of the run with ``seed`` (the data
    set's val split, else that run's hold-out), computed once per process."""
    model, preprocess, _ = load_start_model(clip, pretrained, "cpu")
    data = load_run_data(TrainConfig(method="mmft", dataset=dataset, root=root, seed=seed))
    return encode_images(model, Preprocessed(data.val, preprocess))


def _found_captions(images, store: CaptionStore, characteristics: Sequence[str], words: int,
                    template: str) -> list[list[tuple[str, str]]]:
    """Each image's ``(characteristic, caption)`` pairs that the store holds (missing ones left out)."""
    classnames, domain = dataset_info(images)
    found = []
    for index in range(len(images)):
        try:
            digest = image_digest(dataset_image(images, index))
        except UNREADABLE_IMAGE_ERRORS:
            found.append([])
            continue
        name = classnames[dataset_label(images, index)]
        pairs = [(c, store.get(digest, build_prompt(name, domain, c, words, template))) for c in characteristics]
        found.append([(c, caption) for c, caption in pairs if caption])
    return found


def score_prompt(params: PromptScoreParams | None = None, captioner: Captioner | None = None,
                 **settings: Any) -> PromptScore:
    """Score one caption prompt by MMFT's head on the frozen start CLIP.

    Args:
        params: what to score (template, characteristics, words, captioner, data set, shots, draws, seed, CLIP,
            caption store); ``settings`` given as keywords replace its fields (or make it: ``score_prompt(
            template="...", dataset="glyphs")``).
        captioner: an already loaded captioner (else ``params.captioner`` is loaded, once per process).

    Returns:
        The :class:`PromptScore`: validation accuracy per draw (seeds ``seed`` … ``seed + draws − 1``), mean ±
        s.e., caption statistics, time, and notices (slots the template leaves out, captions the text encoder
        cuts, images the captioner wrote nothing for).

    Raises:
        InvalidInputError: an unknown or malformed placeholder, naming it and the fix.
        PromptScoreError: the captioner wrote no caption at all for this prompt (nothing is stored for it).
    """
    started = time.perf_counter()
    p = (params or PromptScoreParams()).updated(**settings) if settings else (params or PromptScoreParams())
    template = resolve_template(p.template)
    characteristics = tuple(dict.fromkeys(p.characteristics or default_characteristics()))
    notices = template_notices(template)
    captioner = captioner or _captioner(p.captioner, tuple(sorted(p.captioner_options().items())))
    model, _, tokenizer = load_start_model(p.clip, p.pretrained, "cpu")
    accuracies, records, texts = [], [], []
    caption_seconds, made, asked, missing = 0.0, 0, 0, 0
    skipped: dict[str, int] = {}
    for draw in range(p.draws):
        config = TrainConfig(method="mmft", dataset=p.dataset, root=p.root, seed=p.seed + draw, shots=p.shots,
                             clip=p.clip, pretrained=p.pretrained, captioner=p.captioner, words=p.words,
                             template=p.template, domain=p.domain, caption_store=p.caption_store,
                             characteristics=list(characteristics), progress=False)
        images = load_run_data(config).few_shot
        features, labels = _validation_features(p.clip, p.pretrained, p.dataset, p.root, config.seed)
        tick = time.perf_counter()
        report = caption_dataset(images, captioner, store_path(config), characteristics, p.words, template,
                                 progress=False)
        caption_seconds += time.perf_counter() - tick if report.captions else 0.0
        made += report.captions
        for reason, count in report.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
        store = CaptionStore(store_path(config))
        found = _found_captions(images, store, characteristics, p.words, template)
        classnames = dataset_info(images)[0]
        image_labels = [dataset_label(images, i) for i in range(len(images))]
        asked += len(images) * len(characteristics)
        missing += sum(len(characteristics) - len(pairs) for pairs in found)
        records += [CaptionRecord(i, classnames[image_labels[i]], c, caption)
                    for i, pairs in enumerate(found) for c, caption in pairs]
        captions = [[caption for _, caption in pairs] for pairs in found]
        texts += [training_text(caption, classnames[label]) for own, label in zip(captions, image_labels)
                  for caption in own]
        head = caption_prototype_head(model, tokenizer, classnames,
                                      texts_by_class(captions, image_labels, len(classnames)))
        predicted = class_logits(features, head).argmax(dim=1)
        accuracies.append(float((predicted == labels).float().mean()))
    if not records:
        reasons = "; ".join(f"{reason}: {n}" for reason, n in sorted(skipped.items())) or "empty output"
        raise PromptScoreError(
            f"the captioner {p.captioner!r} wrote no caption for any of the {asked} requests of this prompt "
            f"({reasons}); nothing was stored. Check the template reads as a request for a caption "
            f"(template: {template!r}) and that the captioner answers it")
    if missing:
        notices.append(f"the captioner wrote no caption for {missing} of {asked} requests (empty output or an "
                       "error; not stored, asked again next time): those images fall back to the other captions "
                       "of their class")
    cut = truncation_report(texts, tokenizer, warn_above=1.0)
    if cut.truncated:
        notices.append(f"{cut.truncated} of {cut.total} caption texts ({cut.share:.0%}) exceed the text encoder's "
                       f"{cut.context_length} tokens (longest {cut.longest}) and lose their end; ask for fewer words")
    return PromptScore(template, characteristics, p.words, p.captioner, p.dataset, dataset_info(images)[1], p.shots,
                       accuracies, caption_statistics(records), time.perf_counter() - started, caption_seconds, made,
                       len(records), cut.share, notices)


@lru_cache(maxsize=4)
def _captioner(name: str, options: tuple) -> Captioner:
    """A captioner by name and settings, loaded once per process."""
    return load_captioner(name, **dict(options))
