"""Write the kit's notebooks (``notebooks/*.ipynb``) from the cell sources below.

The notebooks are committed without outputs; this script is their source, so a change to a
notebook is a reviewable change here. Run it after editing, from the repository root::

    python scripts/make_notebooks.py            # write notebooks/
    python scripts/make_notebooks.py --check    # exit 1 if notebooks/ differs from this file

Every notebook: a first code cell tagged ``parameters`` (assignments only, papermill replaces
them), then ``start_notebook`` (interpreter, kit version, parameter checks), then steps that
each call the kit, prose for a workshop audience, figures saved by ``nb.show`` and the
headline metrics written by ``nb.finish``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from textwrap import dedent

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def md(text: str) -> tuple[str, str]:
    return "markdown", dedent(text).strip("\n")


def code(text: str) -> tuple[str, str]:
    return "code", dedent(text).strip("\n")


def params(text: str) -> tuple[str, str]:
    return "parameters", dedent(text).strip("\n")


INTERACTIVE_NOTE = (
    "`interactive = True` shows live ipywidgets controls; `False` (what the batch runner and papermill use) "
    "gives static figures and tables instead. Either way every figure is saved to `output_dir`."
)

QUICKSTART = [
    md("""
    # 00 · Quickstart: fine-tuning CLIP with synthetic captions

    A CLIP model classifies an image by comparing its embedding with the embeddings of a text per class,
    usually *"a photo of a {class}."*. Fine-tuned on a few images per class with that one sentence (FLYP),
    every image of a class is pulled towards the *same* text: the model learns little about what the
    images show.

    The synthetic-captions method (Enomoto & Yamaguchi, 2026) asks a multimodal LLM to describe every
    training image, with a prompt that names the class and a characteristic to look at:

    > To differentiate this {class_name} photo from other {domain} photos, describe its primary
    > {characteristic} characteristics based on the photo in {words} words.

    CLIP is then fine-tuned on (image, caption) pairs with its contrastive loss plus a supervised term
    that also pulls together images and captions of the same class, and it classifies with **caption
    prototypes**: per class, the mean embedding of its training captions.

    This notebook does the whole method in four steps — caption, fine-tune, compare with the baselines,
    one plot — on the kit's embedded models and a procedural data set, in about ten minutes on a laptop.
    """),
    params("""
    dataset = "glyphs"        # a registry data set: glyphs, critters, tiles, badges (world tasks), digits, or a folder
    root = None               # folder holding the paper's benchmarks (DTD, Flowers102, ...); None for the kit's data
    clip = "embedded"         # the CLIP to fine-tune: "embedded" (the kit's), "embedded:ci" (tiny), an open_clip name
    pretrained = None         # weights of an open_clip model: a tag such as "openai", or a checkpoint file
    captioner = "embedded"    # who writes captions: "embedded" (the kit's VLM), "embedded:ci", "label", a model folder
    shots = 4                 # training images per class
    seeds = [0]               # one few-shot draw and run per seed
    epochs = 12               # fine-tuning epochs (the best validation epoch is kept)
    lr = 3e-4                 # learning rate (best on validation for the embedded CLIP; the paper: 1e-5 on ViT-B/32)
    caption_store = None      # None: the kit's shared caption store for this data set and captioner
    output_dir = "runs/00_quickstart"
    interactive = False       # no widgets in this notebook
    """),
    md("""
    The next cell shows which Python runs this notebook and checks the parameters: an unknown data set,
    more shots than a class has, or an unknown model stops here with a message saying what to change.
    """),
    code("""
    from mmft_kit.notebook_params import start_notebook

    nb = start_notebook("00_quickstart", dataset=dataset, root=root, clip=clip, pretrained=pretrained,
                        captioner=captioner, shots=shots, seeds=seeds, epochs=epochs, lr=lr,
                        caption_store=caption_store, output_dir=output_dir, interactive=interactive)
    p = nb.params
    """),
    md("""
    ## 1 · The few-shot data

    `load_run_data` draws `shots` training images per class (reproducibly, from the seed), and keeps a
    full-size validation set (to pick the best epoch) and the test set.
    """),
    code("""
    from dataclasses import replace

    from mmft_kit import viz
    from mmft_kit.train import TrainConfig, load_run_data, store_path

    config = TrainConfig(method="mmft", dataset=p.dataset, root=p.root, shots=p.shots, seed=p.seeds[0], model=p.clip,
                         pretrained=p.pretrained, captioner=p.captioner, caption_store=p.caption_store,
                         make_captions=True, epochs=p.epochs, lr=p.lr, batch_size=32)
    data = load_run_data(config)
    print(f"{len(data.classnames)} classes of {data.domain}: {', '.join(data.classnames)}")
    print(f"train: {len(data.few_shot)} images ({p.shots} per class); validation: {len(data.val)}; "
          f"test: {len(data.test)}")
    """),
    md("""
    ## 2 · Caption every training image

    The captioner gets one prompt per image and characteristic (visual, shape and texture by default).
    Captions go to a caption store: a JSONL file keyed by the image's content and the prompt, so they
    are made once and reused by every later run (the kit keeps one store per data set and captioner;
    a second run of this notebook finds its captions there).
    """),
    code("""
    from mmft_kit.captions import build_prompt, caption_dataset, captions_for_dataset
    from mmft_kit.models import load_captioner

    print("prompt for the first image:", build_prompt(data.classnames[data.few_shot.targets[0]], data.domain, "visual"))
    store = store_path(config)
    report = caption_dataset(data.few_shot, load_captioner(p.captioner), store)
    print(report.summary())
    captions = captions_for_dataset(data.few_shot, store)
    viz.table([{"class": data.classnames[data.few_shot.targets[i]], "captions of one image": " / ".join(captions[i])}
               for i in viz.sample_indices(data.few_shot, len(data.classnames))])
    """),
    md("""
    ## 3 · Fine-tune, and the baselines

    * **zeroshot** — the start model with the prompt *"a photo of a {class}."*, no training;
    * **flyp** — fine-tuned on (image, *"a photo of a {class}."*) pairs with CLIP's loss;
    * **mmft** — fine-tuned on (image, caption) pairs with CLIP's loss plus the supervised term,
      classifying with caption prototypes.

    Same data, same model, same optimiser: only the text and the head differ.
    """),
    code("""
    from mmft_kit.train import run

    results = {}
    for seed in p.seeds:
        for method in ("zeroshot", "flyp", "mmft"):
            results[method, seed] = run(replace(config, method=method, seed=seed))
            print(f"{method:8s} seed {seed}: test accuracy {results[method, seed].test_accuracy:.3f}")
    """),
    md("""
    ## 4 · Compare

    Bars are the mean test accuracy over seeds, dots single runs.
    """),
    code("""
    rows = [{"method": method, "seed": seed, "test_accuracy": r.test_accuracy, "val_accuracy": r.val_accuracy,
             "best_epoch": r.best_epoch, "seconds": r.seconds} for (method, seed), r in results.items()]
    nb.show(viz.accuracy_figure(rows), "accuracy")
    summary = {row["method"]: row for row in viz.aggregate(rows, "method", ["test_accuracy"])}
    viz.table(list(summary.values()))
    """),
    md("""
    On the world tasks a class is a *rule* over what the images show (say, a star with stripes), and the
    invented class names carry no meaning the start model knows. Captions spell out what the image
    shows, so the caption-trained model usually learns the rule from fewer images than the one-sentence
    baseline. Try `shots = 1`, or another data set, in the parameters cell; `03_few_shot_finetuning`
    runs every method over several seeds.
    """),
    code("""
    accuracy = {method: row["test_accuracy"] for method, row in summary.items()}
    nb.finish({"zeroshot_accuracy": accuracy["zeroshot"], "flyp_accuracy": accuracy["flyp"],
               "mmft_accuracy": accuracy["mmft"], "mmft_gain_over_flyp": accuracy["mmft"] - accuracy["flyp"],
               "captions": sum(len(c) for c in captions)},
              details={"runs": rows})
    """),
]

PROMPT_DESIGN = [
    md("""
    # 01 · Designing the caption prompt

    The captions are only as good as the prompt that asks for them. The method's template has four
    slots:

    * **class name** — the caption is written *knowing* the class, so it can describe what sets the class
      apart (the class name is cleaned: lower case, `_` and `-` become spaces);
    * **domain** — *"glyph signs"*, *"flowers"*, *"satellite"*: what kind of photo this is and what the
      other classes look like;
    * **characteristic** — what to look at: *visual* (everything salient), *shape*, *texture*, or any word
      (*color*, *petals*, *symbols* …); the paper writes one caption per characteristic;
    * **word budget** — about 50 words; CLIP's text encoder reads at most 77 tokens (the embedded one
      fewer), so longer captions lose their end.

    Here you edit these slots and watch, side by side on sample images, what the captioner writes, how
    long it takes and how long the captions are; then compare characteristics and save the template for
    `02_synthetic_captions`.
    """),
    params("""
    dataset = "glyphs"                               # any registry data set (or an ImageFolder path)
    root = None                                      # folder holding the paper's benchmarks (DTD, ...), if used
    captioner = "embedded"                           # "embedded", "embedded:ci", "label", a model folder or hub id
    template = None                                  # None: the paper's template; a template string or file
    characteristic = "visual"                        # the characteristic previewed first
    characteristics = ["visual", "shape", "texture"] # compared side by side
    words = 50                                       # the word budget in the prompt
    domain = None                                    # None: the data set's own domain string
    class_name = None                                # None: each image's own class; a name to try another
    samples = 4                                      # sample images
    seed = 0                                         # which samples
    output_dir = "runs/01_prompt_design"
    interactive = False
    """),
    md(INTERACTIVE_NOTE),
    code("""
    from mmft_kit.notebook_params import start_notebook

    nb = start_notebook("01_prompt_design", dataset=dataset, root=root, captioner=captioner, template=template,
                        characteristic=characteristic, characteristics=characteristics, words=words, domain=domain,
                        class_name=class_name, samples=samples, seed=seed, output_dir=output_dir,
                        interactive=interactive)
    p = nb.params
    """),
    md("""
    ## The template

    The kit keeps templates and characteristics as data (`mmft_kit/captions/templates.json`); a template
    is a string with the placeholders `{class_name}`, `{domain}`, `{characteristic}` and `{words}`.
    """),
    code("""
    from mmft_kit import viz, widgets
    from mmft_kit.captions import build_prompt, load_library, resolve_template
    from mmft_kit.models import load_captioner
    from mmft_kit.data import get_dataset

    train = get_dataset(p.dataset, root=p.root)
    chosen_template = resolve_template(p.template)
    print("template:", chosen_template)
    print("characteristics in the library:", ", ".join(load_library().characteristics))
    print("for example:", build_prompt(p.class_name or train.classnames[0], p.domain or train.domain, p.characteristic,
                                       p.words, p.template))
    captioner = load_captioner(p.captioner)
    """),
    md("""
    ## Preview

    Each image with the caption written for it, its length in words and the time it took. With
    `interactive = True` the controls below re-caption the samples after every change (pick any data
    set of the registry, type a template, try another class name or domain).
    """),
    code("""
    if p.interactive:
        designer = widgets.prompt_designer(captioner, p.dataset, p.characteristic, p.words, p.template, p.domain,
                                           p.class_name, p.samples, p.seed, p.root, save_to=nb.path("template.txt"))
        display(designer)
        preview = designer.result
    else:
        preview = viz.caption_preview(p.dataset, captioner, [p.characteristic], samples=p.samples, seed=p.seed,
                                      words=p.words, template=p.template, domain=p.domain, class_name=p.class_name,
                                      root=p.root)
        print("prompt of the first image:", preview.prompt)
    nb.show(preview.figure, "preview", display=not p.interactive)
    viz.table(preview.summary)
    """),
    md("""
    ## Compare characteristics

    One row per characteristic, the same images in every row. The table counts how often captions name
    the class and how often they use words of *their own* characteristic (shape words in shape captions,
    pattern words in texture captions): a good prompt keeps each caption on its topic.
    """),
    code("""
    comparison = viz.caption_preview(p.dataset, captioner, p.characteristics, samples=p.samples, seed=p.seed,
                                     words=p.words, template=p.template, domain=p.domain, class_name=p.class_name,
                                     root=p.root)
    nb.show(comparison.figure, "characteristics")
    viz.table(comparison.summary)
    """),
    md("""
    ## Save the template for the next notebook

    The template is written to `template.txt` in the output folder (with `interactive = True`, the
    *save template* button writes the edited one there). Give that path as `template` to
    `02_synthetic_captions`, to `python -m mmft_kit caption --template`, or to `TrainConfig(template=...)`.
    """),
    code("""
    from mmft_kit.io import atomic_write_text

    template_file = nb.path("template.txt")
    atomic_write_text(template_file, chosen_template + "\\n")
    print(f"saved; next: 02_synthetic_captions with template = {str(template_file)!r}")
    """),
    code("""
    overall = {row["characteristic"]: row for row in comparison.summary}
    metrics = {"samples": p.samples, "mean_words": overall["all"]["mean_words"],
               "seconds_per_caption": overall["all"]["seconds_per_caption"],
               "class_name_rate": overall["all"]["class_name_rate"]}
    metrics.update({f"{name}.{key}": row[key] for name, row in overall.items() if name != "all"
                    for key in ("mean_words", "characteristic_word_rate")})
    nb.finish(metrics, details={"template": chosen_template, "preview": preview.summary,
                                "comparison": comparison.summary})
    """),
]

SYNTHETIC_CAPTIONS = [
    md("""
    # 02 · Synthetic captions for a whole data set

    Captioning is the expensive step of the method, and it does not depend on the model being
    fine-tuned, so it is done once, ahead of training, into a **caption store**: one JSONL file whose
    header holds the captioner's settings, the template and the word budget, and whose lines are
    captions keyed by the image's content and the prompt. An interrupted run continues where it stopped;
    a store made with other settings is refused instead of silently mixed.

    This notebook captions a data set, lets you browse the captions, and measures them: length,
    vocabulary, how often they name the class and their characteristic's words, and how well each
    caption matches its own image under CLIP (against a caption of another image).
    """),
    params("""
    dataset = "glyphs"
    root = None                                      # folder holding the paper's benchmarks (DTD, ...), if used
    captioner = "embedded"
    clip = "embedded"                                # scores image-caption agreement
    pretrained = None                                # weights of an open_clip model: a tag such as "openai"
    template = None                                  # None: the paper's; or e.g. "runs/01_prompt_design/template.txt"
    characteristics = ["visual", "shape", "texture"] # one caption per image and characteristic
    words = 50
    limit = 48                                       # caption the first N train images (None: all of them)
    caption_store = None                             # None: the kit's shared store (03 finds it), or one in output_dir
    samples = 6                                      # images to browse
    seed = 0
    output_dir = "runs/02_synthetic_captions"
    interactive = False
    """),
    md(INTERACTIVE_NOTE),
    code("""
    from mmft_kit.notebook_params import start_notebook

    nb = start_notebook("02_synthetic_captions", dataset=dataset, root=root, captioner=captioner, clip=clip,
                        pretrained=pretrained, template=template, characteristics=characteristics, words=words,
                        limit=limit, caption_store=caption_store, samples=samples, seed=seed,
                        output_dir=output_dir, interactive=interactive)
    p = nb.params
    """),
    md("""
    ## Caption into the store

    Without `caption_store`, captions go to the kit's shared store for this data set and captioner —
    the one `03_few_shot_finetuning` and `python -m mmft_kit caption` use — so nothing is captioned
    twice. With a `template` of your own they go to `captions.jsonl` in the output folder instead (a
    store holds one template); pass that path on as `caption_store`.
    """),
    code("""
    from torch.utils.data import Subset

    from mmft_kit import viz, widgets
    from mmft_kit.captions import caption_dataset, captions_for_dataset
    from mmft_kit.models import load_captioner
    from mmft_kit.data import get_dataset
    from mmft_kit.train import TrainConfig, store_path

    train = get_dataset(p.dataset, root=p.root, split="train")
    images = Subset(train, range(min(p.limit or len(train), len(train))))
    store = p.caption_store or (nb.path("captions.jsonl") if p.template else
                                store_path(TrainConfig(dataset=p.dataset, captioner=p.captioner, words=p.words)))
    report = caption_dataset(images, load_captioner(p.captioner), store, characteristics=p.characteristics,
                             words=p.words, template=p.template)
    print(report.summary())
    captions = captions_for_dataset(images, store, p.characteristics)
    records = viz.caption_records(images, captions, p.characteristics)
    print(f"{len(records)} captions of {len(images)} images")
    """),
    md("""
    ## Browse

    A few images with their captions, one per characteristic.
    """),
    code("""
    shown = viz.sample_indices(images, p.samples, p.seed)
    if p.interactive:
        display(widgets.caption_browser(images, shown, [dict(zip(p.characteristics, captions[i])) for i in shown]))
    texts = ["\\n".join(f"[{c}] {text}" for c, text in zip(p.characteristics, captions[i])) for i in shown]
    titles = [train.classnames[images[i][1]] for i in shown]
    figure = viz.caption_grid([images[i][0] for i in shown], texts, titles=titles, ncols=3, width=46)
    nb.show(figure, "browse", display=not p.interactive)
    """),
    md("""
    ## Statistics

    * **length and vocabulary** — captions near the word budget, with a vocabulary that grows with the
      data set, carry more than a template sentence;
    * **class name rate** — how often a caption names its class (the training text gets the class
      prompt as a prefix anyway);
    * **characteristic word rate** — how often a caption uses words of its characteristic;
    * **CLIP score** — cosine similarity between an image and its caption under the start CLIP, against
      the caption of another image: captions that describe their own image score higher.
    """),
    code("""
    from mmft_kit.models import load_clip

    model, preprocess, tokenizer = load_clip(p.clip, p.pretrained)
    matched, shuffled = viz.clip_scores(model, preprocess, tokenizer, [images[r.index][0] for r in records],
                                        [r.caption for r in records], seed=p.seed)
    statistics = viz.caption_statistics(records, matched)
    nb.show(viz.caption_figure(records, matched, shuffled), "statistics")
    viz.table(statistics)
    """),
    code("""
    overall = {row["characteristic"]: row for row in statistics}
    metrics = {"images": len(images), "captions": len(records), "captioned_now": report.captioned,
               "mean_words": overall["all"]["mean_words"], "vocabulary": overall["all"]["vocabulary"],
               "class_name_rate": overall["all"]["class_name_rate"],
               "characteristic_word_rate": overall["all"]["characteristic_word_rate"],
               "clip_score": float(matched.mean()), "clip_score_shuffled": float(shuffled.mean())}
    metrics.update({f"{name}.{key}": row[key] for name, row in overall.items() if name != "all"
                    for key in ("mean_words", "characteristic_word_rate", "clip_score")})
    nb.finish(metrics, details={"store": str(store), "statistics": statistics})
    """),
]

FEW_SHOT = [
    md("""
    # 03 · Few-shot fine-tuning: every method

    One trainer, five methods; they share the data, the start model, the optimiser (AdamW, cosine
    schedule, best validation epoch kept) and differ only in the text they train on and the head they
    classify with:

    | method | trains on | classifies with |
    |---|---|---|
    | `zeroshot` | nothing | *"a photo of a {class}."* |
    | `flyp` | (image, *"a photo of a {class}."*), CLIP loss | the same prompt |
    | `flyp_ens` | as `flyp` | the mean of CLIP's 80 prompt templates |
    | `ce` | image tower + linear head (started from the prompt head), cross-entropy | the linear head |
    | `mmft` | (image, synthetic caption), CLIP loss + supervised contrastive loss | caption prototypes |

    This notebook runs the chosen methods at one number of shots over several seeds and shows the
    learning curves, an accuracy table and a confusion matrix. Captions missing from the store are made
    first (see `02_synthetic_captions`).
    """),
    params("""
    dataset = "glyphs"
    root = None               # folder holding the paper's benchmarks (DTD, Flowers102, ...), if used
    clip = "embedded"
    pretrained = None         # weights of an open_clip model: a tag such as "openai", or a checkpoint file
    captioner = "embedded"
    methods = ["zeroshot", "flyp", "flyp_ens", "ce", "mmft"]
    shots = 4
    seeds = [0]
    epochs = 12
    lr = 3e-4
    batch_size = 32
    caption_store = None      # None: the kit's shared store for this data set and captioner
    template = None           # the caption template the store was made with (None: the paper's)
    output_dir = "runs/03_few_shot_finetuning"
    interactive = False
    """),
    md(INTERACTIVE_NOTE),
    code("""
    from mmft_kit.notebook_params import start_notebook

    nb = start_notebook("03_few_shot_finetuning", dataset=dataset, root=root, clip=clip, pretrained=pretrained,
                        captioner=captioner, methods=methods, shots=shots, seeds=seeds, epochs=epochs, lr=lr,
                        batch_size=batch_size, caption_store=caption_store, template=template, output_dir=output_dir,
                        interactive=interactive)
    p = nb.params
    """),
    md("""
    ## Train

    Each run validates after every epoch and keeps the weights of the best validation epoch; the test
    set is touched once, at the end.
    """),
    code("""
    from mmft_kit import viz, widgets
    from mmft_kit.train import TrainConfig, run

    results = {}
    for seed in p.seeds:
        for method in p.methods:
            config = TrainConfig(method=method, dataset=p.dataset, root=p.root, shots=p.shots, seed=seed, model=p.clip,
                                 pretrained=p.pretrained, captioner=p.captioner, caption_store=p.caption_store,
                                 template=p.template, make_captions=True, epochs=p.epochs, lr=p.lr,
                                 batch_size=p.batch_size)
            results[method, seed] = run(config)
            print(f"{method:9s} seed {seed}: test accuracy {results[method, seed].test_accuracy:.3f} "
                  f"(best epoch {results[method, seed].best_epoch}, {results[method, seed].seconds:.0f} s)")
    """),
    md("""
    ## Learning curves

    Training loss and validation accuracy per epoch. The losses of different methods are not
    comparable with each other (different texts, different terms); their shapes are.
    """),
    code("""
    nb.show(viz.learning_curves({f"{m} (seed {s})": r.history for (m, s), r in results.items() if r.history}),
            "learning_curves")
    """),
    md("""
    ## Accuracy

    Mean and standard deviation over seeds; with one seed the spread is zero, run more seeds (or a
    batch grid over `seeds`) before reading small differences.
    """),
    code("""
    rows = [{"method": m, "seed": s, "test_accuracy": r.test_accuracy, "val_accuracy": r.val_accuracy,
             "best_epoch": r.best_epoch, "seconds": r.seconds} for (m, s), r in results.items()]
    summary = viz.aggregate(rows, "method", ["test_accuracy", "val_accuracy"])
    zero_shot = next(iter(results.values())).zeroshot_accuracy
    nb.show(viz.accuracy_figure(rows, reference=zero_shot), "accuracy")
    viz.table(summary)
    """),
    md("""
    ## Confusion matrix

    Rows are the true classes, columns the predicted ones (each row sums to 1): which classes does the
    best method still mix up? With `interactive = True`, pick any method.
    """),
    code("""
    best = max(summary, key=lambda row: row["test_accuracy"])["method"]
    classnames = next(iter(results.values())).data.classnames

    def confusion(method):
        return viz.confusion_figure(*viz.predictions(results[method, p.seeds[0]]), classnames,
                                    f"{method}, seed {p.seeds[0]}")

    if p.interactive:
        display(widgets.choice_preview(p.methods, confusion, "method"))
    nb.show(confusion(best), "confusion", display=not p.interactive)
    """),
    code("""
    metrics = {"classes": len(classnames), "shots": p.shots, "seeds": len(p.seeds), "zeroshot_accuracy": zero_shot,
               "best_method": best}
    for row in summary:
        metrics[f"test_accuracy.{row['method']}"] = row["test_accuracy"]
        metrics[f"test_accuracy_std.{row['method']}"] = row["test_accuracy_std"]
    nb.finish(metrics, details={"runs": [r.summary() for r in results.values()]})
    """),
]

EMBEDDINGS = [
    md("""
    # 04 · What fine-tuning does to the embedding space

    CLIP puts images and texts in one space; a class is recognised when its images lie nearer to its
    own text (or prototype) than to any other. This notebook embeds the test images and the training
    captions with the start model and with each fine-tuned model, and draws them in 2-D:

    * dots are test images, triangles training captions, stars the class prototypes (the head each
      model classifies with), all coloured by class;
    * PCA keeps global distances, t-SNE (and UMAP when `umap-learn` is installed) local neighbourhoods —
      do not read distances between far-apart clusters in t-SNE;
    * the **silhouette score** (cosine) measures how well the test images of each class are separated
      from the other classes: −1 to 1, higher is better, comparable before and after.
    """),
    params("""
    dataset = "glyphs"
    root = None                             # folder holding the paper's benchmarks (DTD, ...), if used
    clip = "embedded"
    pretrained = None                       # weights of an open_clip model: a tag such as "openai"
    captioner = "embedded"
    methods = ["flyp", "mmft"]              # methods with a text tower: flyp, flyp_ens, mmft
    shots = 4
    seed = 0
    epochs = 12
    lr = 3e-4
    projections = ["pca", "tsne", "umap"]   # umap is skipped when umap-learn is not installed
    classes = None                          # None: every class; or a list of class names to draw
    caption_store = None
    output_dir = "runs/04_embedding_visualisation"
    interactive = False
    """),
    md(INTERACTIVE_NOTE),
    code("""
    from mmft_kit.notebook_params import start_notebook

    nb = start_notebook("04_embedding_visualisation", dataset=dataset, root=root, clip=clip, pretrained=pretrained,
                        captioner=captioner, methods=methods, shots=shots, seed=seed, epochs=epochs, lr=lr,
                        projections=projections, classes=classes, caption_store=caption_store, output_dir=output_dir,
                        interactive=interactive)
    p = nb.params
    """),
    md("""
    ## Fine-tune

    One run per method (one seed). `mmft` needs captions: missing ones are made first.
    """),
    code("""
    from mmft_kit import viz, widgets
    from mmft_kit.train import TrainConfig, run

    results = {}
    for method in p.methods:
        results[method] = run(TrainConfig(method=method, dataset=p.dataset, root=p.root, shots=p.shots, seed=p.seed,
                                          model=p.clip, pretrained=p.pretrained, captioner=p.captioner,
                                          caption_store=p.caption_store, make_captions=True, epochs=p.epochs,
                                          lr=p.lr, batch_size=32))
        print(f"{method}: test accuracy {results[method].test_accuracy:.3f}")
    views = viz.fine_tuning_views(results)
    classnames = next(iter(results.values())).data.classnames
    projections = viz.available_projections(p.projections)
    print("projections:", ", ".join(projections))
    """),
    md("""
    ## Before and after

    Left: the start model (`before`). Then one panel per method, after fine-tuning. Images and texts
    often form two separate islands — CLIP's *modality gap*: a text is never as close to an image as
    images are to each other, only closer to its own class's images than to other classes'. Watch the
    captions (triangles) and prototypes (stars): fine-tuning on captions should sort them by class in
    step with the images.
    """),
    code("""
    if p.interactive:
        display(widgets.class_picker(views, classnames, projections, p.seed))
    for projection in projections:
        nb.show(viz.embedding_figure(views, classnames, projection, p.classes, p.seed), f"embeddings_{projection}",
                display=not p.interactive)
    """),
    md("""
    ## Class separation

    Silhouette of the test images' embeddings by class, before and after fine-tuning, next to the test
    accuracy. A method can raise accuracy by moving the prototypes alone; a rising silhouette means the
    image embeddings themselves became more class-aware.
    """),
    code("""
    accuracy = {"before": next(iter(results.values())).zeroshot_accuracy,
                **{method: result.test_accuracy for method, result in results.items()}}
    separation = [{"model": name, "silhouette": viz.separation_score(view.images, view.image_labels),
                   "test_accuracy": accuracy[name]} for name, view in views.items()]
    nb.show(viz.accuracy_figure(separation, key="silhouette", label="model"), "separation")
    viz.table(separation)
    """),
    code("""
    before = separation[0]["silhouette"]
    metrics = {"silhouette.before": before, "zeroshot_accuracy": accuracy["before"]}
    for row in separation[1:]:
        metrics[f"silhouette.{row['model']}"] = row["silhouette"]
        metrics[f"silhouette_gain.{row['model']}"] = row["silhouette"] - before
        metrics[f"test_accuracy.{row['model']}"] = row["test_accuracy"]
    nb.finish(metrics, details={"projections": projections, "separation": separation})
    """),
]

PARE = [
    md("""
    # 05 · PaRe: cross-modal fine-tuning with patch replacement

    A transformer pretrained on images can be fine-tuned on data of *another* modality — spherical
    images, PDE fields, sensor signals, tables — through a new **target embedder** that turns the
    target's inputs into tokens the body understands (it starts as a copy of the pretrained patch
    embedding: *srcinit*). The gap between the two modalities makes this hard at first.

    PaRe (Cai et al., ICML 2024) bridges it with **intermediate modalities**: a shared **gate** (one
    linear layer and a sigmoid) scores every patch token; in each training batch the `k` best-scored
    *source* (image) patches replace the `k` worst-scored *target* patches, and the model learns on these
    mixed inputs too:

    > loss = L(target) + (1 − λ) · L(mixed, target labels) + λ · CE(mixed, source labels), λ = k / N

    `k` shrinks over training (`k = int(begin − end · epoch / epochs)`), so the mixed inputs drift from
    source-like to target-like. In the first epochs the choice is a differentiable Gumbel top-k, so the
    gate learns which patches to swap. Below: plain fine-tuning against PaRe on a target task, the
    patches the gate picks, and λ and the loss over training.
    """),
    params("""
    task = "spherical"                # PaRe target task: spherical, darcy, signals, wdbc, iris, wine
    body = "embedded"                 # the pretrained body: image tower of "embedded", "embedded:ci", an open_clip name
    methods = ["finetune", "pare"]    # of scratch, finetune, orca, pare
    seeds = [0]
    epochs = 20
    batch_size = 32
    lr = 3e-4
    samples = 4                       # samples in the gate figure
    output_dir = "runs/05_pare_cross_modal"
    interactive = False
    """),
    md(INTERACTIVE_NOTE),
    code("""
    from mmft_kit.notebook_params import start_notebook

    nb = start_notebook("05_pare_cross_modal", task=task, body=body, methods=methods, seeds=seeds, epochs=epochs,
                        batch_size=batch_size, lr=lr, samples=samples, output_dir=output_dir, interactive=interactive)
    p = nb.params
    """),
    md("""
    ## The target task and the source images

    The source data are labelled world images (the authors use CIFAR-10); they only feed the mixed
    inputs and the source term of the loss.
    """),
    code("""
    from mmft_kit import pare, viz, widgets

    target = pare.get_target_task(p.task)
    body = pare.load_body(p.body)
    source = pare.world_source(image_size=pare.as_body(body).image_size[0], seed=p.seeds[0])
    print(target)
    print(f"source: {len(source)} images, {source.num_classes} classes ({', '.join(source.classnames)})")
    """),
    md("""
    ## Train

    `finetune` is the same model and schedule without replacement; `pare` adds the gate, the mixed
    inputs and the λ-weighted loss. The metric is lower-is-better.
    """),
    code("""
    config = pare.TrainConfig(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr)
    models, runs = {}, {}
    for seed in p.seeds:
        for method in p.methods:
            models[method, seed], runs[method, seed] = pare.fit(target, method, config, body=body, source=source,
                                                                 seed=seed)
            print(f"{method:8s} seed {seed}: test {runs[method, seed].metric} {runs[method, seed].test:.4f}")
    """),
    md("""
    ## λ and the loss over training

    λ (left) falls as fewer source patches are mixed in; the Gumbel epochs come first. The training loss
    of `pare` holds the extra mixed and source terms, so it sits above plain fine-tuning's; compare the
    validation metric (right).
    """),
    code("""
    nb.show(viz.pare_curves({f"{m} (seed {s})": r for (m, s), r in runs.items()}), "training")
    rows = [{"method": m, "seed": s, "test": r.test, "val": r.val, "best_epoch": r.best_epoch,
             "seconds": r.runtime_s} for (m, s), r in runs.items()]
    summary = viz.aggregate(rows, "method", ["test", "val"])
    viz.table(summary)
    """),
    md("""
    ## The gate's choices

    Source images (top) with the patches the trained gate would hand over, and target samples (bottom)
    with the slots they would replace, at the first epoch's `k` and at the last one's; the colour wash is
    each patch's gate score. With `interactive = True`, slide `k` and the samples.
    """),
    code("""
    if "pare" in p.methods:
        gated, history = models["pare", p.seeds[0]], runs["pare", p.seeds[0]].history
        if p.interactive:
            display(widgets.gate_explorer(gated, target, source, history[0].k, p.samples))
        nb.show(viz.gate_figure(viz.gate_view(gated, target, source, history[0].k, p.samples)), "gate_first_epoch",
                display=not p.interactive)
        nb.show(viz.gate_figure(viz.gate_view(gated, target, source, history[-1].k, p.samples)), "gate_last_epoch",
                display=not p.interactive)
    else:
        print("add 'pare' to methods to see the gate")
    """),
    code("""
    first = next(iter(runs.values()))
    metrics = {"task": target.name, "metric": first.metric, "tokens": first.num_tokens, "epochs": p.epochs}
    for row in summary:
        metrics[f"test.{row['method']}"] = row["test"]
    if "pare" in p.methods:
        metrics.update({"k_first": history[0].k, "k_last": history[-1].k, "lambda_first": history[0].lam,
                        "lambda_last": history[-1].lam})
    if {"pare", "finetune"} <= set(p.methods):
        metrics["pare_minus_finetune"] = metrics["test.pare"] - metrics["test.finetune"]
    nb.finish(metrics, details={"runs": rows})
    """),
]

ALL = {
    "00_quickstart": QUICKSTART,
    "01_prompt_design": PROMPT_DESIGN,
    "02_synthetic_captions": SYNTHETIC_CAPTIONS,
    "03_few_shot_finetuning": FEW_SHOT,
    "04_embedding_visualisation": EMBEDDINGS,
    "05_pare_cross_modal": PARE,
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A v4.5 notebook without outputs, cell ids ``<n>-<kind>``, the ``python3`` kernelspec."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for index, (kind, source) in enumerate(cells):
        cell_id = f"{name[:2]}-{index:02d}"
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source, id=cell_id)
        else:
            cell = nbformat.v4.new_code_cell(source, id=cell_id)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def render(name: str) -> str:
    return nbformat.writes(build(name, ALL[name])) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook differs from this script")
    args = parser.parse_args(argv)
    stale = []
    for name in ALL:
        path = NOTEBOOKS / f"{name}.ipynb"
        text = render(name)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print("notebooks differ from scripts/make_notebooks.py: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
