"""How real a captioner's captions look: every statistic of CALIBRATION.md section 3 beside its band, per
characteristic, and how well the captioner follows its prompt (length per word budget, class name with the
true and with a wrong name, every library characteristic, an unknown one, templates without some slots).

    python benchmarks/caption_realism.py                          # the embedded captioner on the fixed world sample
    python benchmarks/caption_realism.py --captioner embedded:ci  # any captioner (a folder, openai:MODEL ...)
    python benchmarks/caption_realism.py --corpus                 # the training corpus the embedded VLM learns from
    python benchmarks/caption_realism.py --captions STORE.jsonl   # captions already made: a kit caption store, or
    python benchmarks/caption_realism.py --captions ShapeCaption.json TextureCaption.json --category dog cat
                                                                  # the MMFT authors' files (image file → caption)

The fixed sample: the first ``--per-task`` test images of every world task (seed 0), prompted with the
default template at 50 words, sampled at the kit's temperature (0.2). Prompt-following figures need a
captioner, so they are left out for caption files. Results: ``benchmarks/results/caption_realism.md``
(``--out``). The headline, last, is the share of banded statistics inside their band per characteristic.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmft_kit.captions.prompts import build_prompt, load_library  # noqa: E402
from mmft_kit.captions.statistics import (  # noqa: E402
    CaptionText, category_forms, characteristic_words, length_following, mentions_class, read_caption_texts,
    realism_share, realism_statistics, realism_table, words_of,
)
from mmft_kit.data.tasks import WORLD_TASKS, make_world_task  # noqa: E402
from mmft_kit.data.world import Attributes  # noqa: E402
from mmft_kit.embedded.caption_corpus import write_caption  # noqa: E402
from mmft_kit.embedded.vlm import wrong_mention_rates  # noqa: E402
from mmft_kit.text import clean_classname  # noqa: E402

#: Words that show a caption is about a characteristic beyond its own name (statistics.CHARACTERISTIC_WORDS aside).
TOPIC_WORDS = {
    "petals": frozenset({"petal", "petals"}), "symbols": frozenset({"symbol", "sign", "mark"}),
    "context": frozenset({"background", "backdrop", "setting", "scene", "frame"}),
    "spatial": frozenset({"left", "right", "centre", "center", "top", "bottom", "middle", "frame", "placed"}),
}
BUDGETS = (5, 10, 20, 30, 40, 50, 80, 120)
MAIN = ("visual", "shape", "texture")
RESULTS = Path(__file__).resolve().parent / "results" / "caption_realism.md"


def world_sample(per_task: int) -> list[tuple]:
    """(image, class name, domain, the task's other class names, attributes) for the first test images of
    every world task."""
    sample = []
    for name, task in WORLD_TASKS.items():
        data = make_world_task(name, "test", seed=0)
        for i in range(min(per_task, len(data))):
            label = data.targets[i]
            sample.append((data.image(i), data.classnames[label], task.domain,
                           [c for c in data.classnames if c != data.classnames[label]],
                           Attributes(**data.attributes[i])))
    return sample


class CorpusCaptioner:
    """The training corpus as a captioner of the world sample: what the embedded VLM learns to write."""

    settings = {"revision": "embedded/caption_corpus.py", "temperature": "-"}

    def __init__(self, sample) -> None:
        self.attributes = {id(item[0]): item[4] for item in sample}
        self.rng = np.random.default_rng(0)

    def caption(self, images, prompts) -> list[str]:
        out = []
        for image, prompt in zip(images, prompts):
            found = PROMPT.match(prompt)
            name, domain, characteristic, words = found.groups() if found else (None, None, "general", None)
            out.append(write_caption(self.attributes[id(image)], characteristic, words and int(words), self.rng,
                                     name, domain))
        return out


PROMPT = re.compile(r"To differentiate this (.+) photo from other (.+) photos, describe its primary (.+) "
                    r"characteristics based on the photo in (\d+) words\.")


def error_lines(texts: list[CaptionText], sample) -> list[str]:
    """How often captions name a wrong shape, colour or fill (world images only)."""
    lines = ["", "| characteristic | names a wrong shape | wrong colour | wrong fill |", "|---|---|---|---|"]
    for characteristic in MAIN:
        captions = [t.caption for t in texts if t.characteristic == characteristic]
        rates = wrong_mention_rates(captions, [item[4] for item in sample])
        lines.append(f"| {characteristic} | {rates['shape']:.2f} | {rates['colour']:.2f} | {rates['fill']:.2f} |")
    return lines


def clip_token_count():
    """CLIP's token count of a caption (start and end tokens included)."""
    import open_clip

    tokenizer = open_clip.tokenizer.SimpleTokenizer()
    return lambda text: len(tokenizer.encode(text)) + 2


def caption_sample(captioner, sample, characteristic: str, words: int | None = 50, names=None,
                   template: str | None = None) -> list[str]:
    """Captions of the sample's images for one characteristic and budget (``names``: class names to give)."""
    names = names or [item[1] for item in sample]
    prompts = [build_prompt(n, item[2], characteristic, words or 50, template=template)
               for n, item in zip(names, sample)]
    return captioner.caption([item[0] for item in sample], prompts)


def prompt_following(captioner, sample, images: int = 48) -> list[str]:
    """Lines of prompt-following figures, on ``images`` images spread over the sample."""
    rng = np.random.default_rng(0)
    small = sample[:: max(1, len(sample) // images)][:images]
    lines = ["", "## Prompt following", "", "| word budget | " + " | ".join(map(str, BUDGETS)) + " |",
             "|---|" + "---|" * len(BUDGETS)]
    means = {w: float(np.mean([len(words_of(c)) for c in caption_sample(captioner, small, "visual", w)]))
             for w in BUDGETS}
    lines.append("| mean words (visual) | " + " | ".join(f"{means[w]:.1f}" for w in BUDGETS) + " |")
    follow = length_following(means)
    lines += ["", f"length monotone in the budget: {follow['monotone']}; within ±30 % from 25 words up: "
                  f"{follow['within']} (worst mean/budget {follow['worst_ratio']:.2f})", ""]
    true = caption_sample(captioner, small, "visual")
    wrong_names = [item[3][rng.integers(len(item[3]))] for item in small]
    wrong = caption_sample(captioner, small, "visual", names=wrong_names)
    lines.append(f"class named with the true name: {np.mean([mentions_class(c, i[1]) for c, i in zip(true, small)]):.2f}; "
                 f"with a wrong name: that name {np.mean([mentions_class(c, n) for c, n in zip(wrong, wrong_names)]):.2f}, "
                 f"the true one {np.mean([mentions_class(c, i[1]) for c, i in zip(wrong, small)]):.2f}; "
                 f"captions changed by the wrong name: {np.mean([a != b for a, b in zip(true, wrong)]):.2f}")
    domain = np.mean([bool(set(words_of(c)) & category_forms(i[2])) for c, i in zip(true, small)])
    lines.append(f"category word of the domain given: {domain:.2f}")
    lines += ["", "| characteristic asked | share using its words | mean words | example |", "|---|---|---|---|"]
    for characteristic in [*load_library().characteristics, "smell"]:
        captions = caption_sample(captioner, small, characteristic)
        vocabulary = (characteristic_words(characteristic) or frozenset()) | TOPIC_WORDS.get(characteristic, frozenset())
        rate = np.mean([bool(set(words_of(c)) & vocabulary) for c in captions])
        lines.append(f"| {characteristic} | {rate:.2f} | {np.mean([len(words_of(c)) for c in captions]):.1f} | "
                     f"{captions[0]} |")
    for template in ("Describe the {characteristic} characteristics of this {domain} photo.",
                     "Describe this {class_name} photo in {words} words."):
        captions = caption_sample(captioner, small[:8], "shape", template=template)
        lines.append(f"\ntemplate {template!r}: mean words {np.mean([len(words_of(c)) for c in captions]):.1f}; "
                     f"e.g. {captions[0]!r}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captioner", default="embedded", help="a captioner name (default: the embedded one)")
    parser.add_argument("--captions", nargs="+", help="caption files to measure instead (store or authors' JSON)")
    parser.add_argument("--corpus", action="store_true", help="measure the embedded VLM's training corpus instead")
    parser.add_argument("--category", nargs="*", default=[], help="category words of the captions' data set")
    parser.add_argument("--per-task", type=int, default=48, help="test images per world task in the sample")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the markdown table")
    parser.add_argument("--follow-images", type=int, default=48, help="images of the prompt-following figures")
    parser.add_argument("--no-follow", action="store_true", help="leave out the prompt-following figures")
    args = parser.parse_args(argv)

    follow_lines: list[str] = []
    categories = {w.lower() for w in args.category}
    if args.captions:
        texts = [t for path in args.captions for t in read_caption_texts(path)]
        source = ", ".join(args.captions)
    else:
        from mmft_kit.models import load_captioner

        sample = world_sample(args.per_task)
        captioner = CorpusCaptioner(sample) if args.corpus else load_captioner(args.captioner)
        categories |= {w for task in WORLD_TASKS.values() for w in category_forms(task.domain)}
        texts = [CaptionText(clean_classname(item[1]), c, caption) for c in MAIN
                 for item, caption in zip(sample, caption_sample(captioner, sample, c))]
        follow_lines = error_lines(texts, sample)
        source = (f"{'corpus' if args.corpus else args.captioner} ({captioner.settings.get('revision') or ''}), "
                  f"{len(sample)} world test images, {args.follow_images} for prompt following "
                  f"({args.per_task} per task), 50-word default prompt, temperature {captioner.settings['temperature']}")
        if not args.no_follow:
            follow_lines += prompt_following(captioner, sample, args.follow_images)
    stats = realism_statistics(texts, categories, clip_token_count())
    rows = realism_table(stats)
    lines = [f"# Caption realism: {source}", "", "| characteristic | statistic | value | band | inside |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['characteristic']} | {r['statistic']} | {r['value']:.3f} | {r['low']:g}–{r['high']:g} | "
              f"{'yes' if r['inside'] else 'NO'} |" for r in rows]
    lines += follow_lines
    shares = realism_share(rows)
    lines += ["", "Inside their band: " + ", ".join(f"{c} {s:.0%}" for c, s in shares.items())]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.captions and not args.corpus:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
