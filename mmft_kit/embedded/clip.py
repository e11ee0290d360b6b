"""The embedded CLIP: open_clip's own model class, pretrained with open_clip's ClipLoss on the world corpus.

The result is saved as an open_clip ``local-dir:`` folder (``open_clip_config.json`` +
``open_clip_pytorch_model.bin``), the format a user's own checkpoint comes in, so it loads
through ``open_clip.create_model_and_transforms("local-dir:" + folder)``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import open_clip
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from tqdm.auto import tqdm

from ..data import corpus as corpus_module
from ..data import world
from ..data.corpus import NAME_RATES, UNKNOWN_NAMES, domain_classes, make_corpus
from ..data.world import ATTRIBUTES, attribute_prompts, render, sample_attributes
from ..optim import decay_groups, make_scheduler
from . import pretext as pretext_module
from . import reproducible as reproducible_module
from .pretext import PRETEXT_FACTORS, pretext_batch
from .reproducible import BUILD_DEVICE, reproducible

#: Code besides this module whose behaviour decides the weights (the zoo's recipe hash covers it).
WEIGHT_SOURCES = (world, corpus_module, pretext_module, reproducible_module, decay_groups, make_scheduler)

#: The settings of how well the CLIP knows the tasks' class names (``CLIPRecipe.class_names``).
CLASS_NAME_SETTINGS = {"known": NAME_RATES, "unknown": UNKNOWN_NAMES}


@dataclass(frozen=True)
class CLIPRecipe:
    """Everything that determines the embedded CLIP; its hash names the cache folder."""

    embed_dim: int
    vision: dict
    text: dict
    corpus_size: int
    epochs: int
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_fraction: float = 0.05
    image_size: int = 32
    seed: int = 0
    eval_images: int = 600
    family_size: int = 16
    family_resample: float = 0.5
    vision_warmup_steps: int = 300
    warm_start_attributes: tuple[str, ...] = ("clutter",)
    warm_start_thumbnail: int = 8
    pretext_batch_size: int = 64
    locked_image_fraction: float = 0.5
    class_names: str = "known"
    extra: dict = field(default_factory=dict)

    def model_cfg(self) -> dict:
        """The open_clip model config (``CLIP(**cfg)``)."""
        return {
            "embed_dim": self.embed_dim,
            "vision_cfg": {"image_size": self.image_size, **self.vision},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, **self.text},
        }


CLIP_RECIPES: dict[str, CLIPRecipe] = {
    "ci": CLIPRecipe(
        embed_dim=64,
        vision={"patch_size": 4, "width": 64, "layers": 4, "head_width": 32},
        text={"width": 64, "heads": 2, "layers": 1},
        corpus_size=3000, epochs=8, batch_size=64, lr=2e-3, eval_images=300, vision_warmup_steps=600,
        locked_image_fraction=0.3,
    ),
    "default": CLIPRecipe(
        embed_dim=128,
        vision={"patch_size": 4, "width": 64, "layers": 4, "head_width": 32},
        text={"width": 64, "heads": 2, "layers": 2},
        corpus_size=32000, epochs=4, batch_size=128, lr=1e-3, vision_warmup_steps=1200,
        locked_image_fraction=0.3,
    ),
}
#: The default CLIP in a corpus that never names a task's class: the CLIP paper's near-chance zero-shot regime
#: for words it never saw (built on demand into the cache: ``ensure_clip("unknown-names")``).
CLIP_RECIPES["unknown-names"] = replace(CLIP_RECIPES["default"], class_names="unknown")


def weight_inputs(recipe: CLIPRecipe) -> dict:
    """The data a build takes from other modules (the world tasks' class names and rules, which the corpus
    names, and whose rules decide its random draws even at rate 0), for the recipe hash."""
    return {"classes": domain_classes()}


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` → float ``(N, 3, H, W)`` normalised like the saved preprocess."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def attribute_zero_shot(model, tokenizer, n_images: int = 600, seed: int = 12345, image_size: int = 32,
                        device: torch.device | None = None) -> dict[str, dict[str, float]]:
    """Zero-shot accuracy of a CLIP on each world attribute, on fresh images.

    Returns ``{attribute: {"accuracy": a, "chance": 1 / number of values}}``.
    """
    device = device or next(model.parameters()).device
    rng = np.random.default_rng(seed)
    attrs = [sample_attributes(rng) for _ in range(n_images)]
    images = images_to_tensor(np.stack([render(a, size=image_size, rng=rng) for a in attrs])).to(device)
    model.eval()
    feats = torch.nn.functional.normalize(model.encode_image(images), dim=-1)
    report = {}
    for attribute, values in ATTRIBUTES.items():
        prompts = attribute_prompts(attribute)
        text = torch.nn.functional.normalize(
            model.encode_text(tokenizer([prompts[v] for v in values]).to(device)), dim=-1)
        predicted = (feats @ text.T).argmax(dim=1).cpu().numpy()
        truth = np.array([values.index(getattr(a, attribute)) for a in attrs])
        report[attribute] = {"accuracy": float((predicted == truth).mean()), "chance": 1.0 / len(values)}
    return report


def pixel_statistics(images: torch.Tensor, thumbnail: int) -> torch.Tensor:
    """Label-free targets computed from the pixels alone, standardised per image set: a ``thumbnail``² blurred
    thumbnail (where things are), a 27-bin colour histogram (which colours, wherever they are) and
    magnitude-weighted histograms of edge orientations over the whole image and its four quadrants (which
    edges: HOG, the target of MaskFeat's self-supervised pretraining), and the moments of the silhouette
    (:func:`silhouette_moments`: its form, wherever it lies)."""
    rgb = images * torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1) + torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    small = torch.nn.functional.adaptive_avg_pool2d(images, thumbnail).flatten(1)
    bins = (rgb.clamp(0, 0.999) * 3).long()
    index = (bins[:, 0] * 9 + bins[:, 1] * 3 + bins[:, 2]).flatten(1)
    colours = torch.zeros(len(images), 27).scatter_add_(1, index, torch.ones_like(index, dtype=torch.float32))
    grey = rgb.mean(1, keepdim=True)
    gx = torch.nn.functional.pad(grey[..., :, 2:] - grey[..., :, :-2], (1, 1, 0, 0))
    gy = torch.nn.functional.pad(grey[..., 2:, :] - grey[..., :-2, :], (0, 0, 1, 1))
    magnitude = torch.hypot(gx, gy)
    orientation = ((torch.atan2(gy, gx) % math.pi) / math.pi * 8).long().clamp(max=7)
    cells = torch.zeros(len(images), 8, *grey.shape[-2:]).scatter_(1, orientation, magnitude)
    quadrants = torch.nn.functional.adaptive_avg_pool2d(cells, 2).flatten(1)
    whole = cells.mean((2, 3))
    edges = torch.cat([whole, quadrants], 1) / (whole.sum(1, keepdim=True) + 1e-6)
    targets = torch.cat([small, colours / colours.sum(1, keepdim=True), edges, silhouette_moments(rgb)], 1)
    return (targets - targets.mean(0)) / (targets.std(0) + 1e-6)


#: The (p, q) orders of the silhouette's normalised central moments (second to fourth order).
MOMENT_ORDERS = tuple((p, q) for n in (2, 3, 4) for p in range(n + 1) for q in (n - p,))


def silhouette_moments(rgb: torch.Tensor) -> torch.Tensor:
    """Normalised central moments (orders 2–4) and the fill ratio of each image's silhouette: the pixels
    that differ from the median colour of the image border (the classic hand-made shape descriptors,
    computed from the pixels alone; independent of where the silhouette lies)."""
    n, _, h, w = rgb.shape
    border = torch.cat([rgb[..., 0, :], rgb[..., -1, :], rgb[..., :, 0], rgb[..., :, -1]], -1)
    background = border.median(-1).values[..., None, None]
    mask = ((rgb - background).abs().amax(1) > 0.25).float()
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    area = mask.sum((1, 2)).clamp(min=1.0)
    cx, cy = (mask * xs).sum((1, 2)) / area, (mask * ys).sum((1, 2)) / area
    dx, dy = xs[None] - cx[:, None, None], ys[None] - cy[:, None, None]
    scale = (area / (h * w / 4))
    moments = [(mask * dx ** p * dy ** q).sum((1, 2)) / area / scale ** ((p + q) / 2) for p, q in MOMENT_ORDERS]
    return torch.stack([*moments, area / (h * w)], 1)


def warm_start_vision(model, recipe: CLIPRecipe, rng: np.random.Generator,
                      progress: bool = True) -> dict[str, float]:
    """Warm-start the image tower without any class-defining label: regress label-free pixel statistics
    (:func:`pixel_statistics`, self-supervised), tell apart the attributes no task's classes use
    (``recipe.warm_start_attributes``) on world images, and tell apart forms, patterns, spacings, tones and
    marks that are no value of any world attribute on pretext images (:mod:`~mmft_kit.embedded.pretext`).

    A contrastive learner trained from scratch on a small budget picks up global cues (colour,
    background) long before spatial ones (shape, pattern): both towers start blind to them, so neither
    gives the other a signal, and a longer contrastive stage does not fix it (measured: README, "Why
    Tip-Adapter stays at zero-shot here"). A warm start, like starting CLIP from an image backbone
    pretrained on other concepts, breaks that deadlock: the skills (reading a silhouette, a pattern, its
    period, a tone, a count) are learnt on concepts no task has, so what the frozen features know of the
    classes themselves is transfer, and the names come from the contrastive stage. Returns each head's
    accuracy and the statistics' explained variance on fresh held-out images.
    """
    device = next(model.parameters()).device
    names = list(recipe.warm_start_attributes)
    side = recipe.warm_start_thumbnail
    probes = torch.nn.ModuleList(torch.nn.Linear(recipe.embed_dim, len(ATTRIBUTES[n])) for n in names).to(device)
    pretext_heads = torch.nn.ModuleList(torch.nn.Linear(recipe.embed_dim, len(values))
                                        for values in PRETEXT_FACTORS.values()).to(device)
    decoder = torch.nn.Linear(recipe.embed_dim, 3 * side * side + 27 + 40 + len(MOMENT_ORDERS) + 1).to(device)
    heads = [*probes.parameters(), *pretext_heads.parameters(), *decoder.parameters()]
    optimizer = torch.optim.AdamW([*model.visual.parameters(), *heads], lr=recipe.lr, weight_decay=0.05)

    def world_losses(images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = model.visual(images)
        statistics = pixel_statistics(images.cpu(), side).to(device)
        mse = torch.nn.functional.mse_loss(decoder(features), statistics)
        ce = sum(torch.nn.functional.cross_entropy(probe(features), targets[:, k]) for k, probe in enumerate(probes))
        return mse, ce, features

    def pretext_logits(n: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        images, labels = pretext_batch(n, recipe.image_size, rng)
        features = model.visual(images_to_tensor(images).to(device))
        return [head(features) for head in pretext_heads], torch.from_numpy(labels).to(device)

    steps = recipe.vision_warmup_steps
    scheduler = make_scheduler(optimizer, "cosine", steps, max(1, steps // 20))
    for _ in tqdm(range(steps), desc="warm start: image tower", disable=not progress, mininterval=2.0):
        mse, ce, _ = world_losses(*_labelled_batch(recipe.batch_size, recipe.image_size, rng, device, names))
        logits, labels = pretext_logits(recipe.pretext_batch_size)
        pretext_ce = sum(torch.nn.functional.cross_entropy(z, labels[:, k]) for k, z in enumerate(logits))
        optimizer.zero_grad(set_to_none=True)
        (mse + ce + pretext_ce).backward()
        optimizer.step()
        scheduler.step()
    images, targets = _labelled_batch(512, recipe.image_size, rng, device, names)
    with torch.no_grad():
        mse, _, features = world_losses(images, targets)
        report = {n: float((probe(features).argmax(1) == targets[:, k]).float().mean())
                  for k, (n, probe) in enumerate(zip(names, probes))}
        logits, labels = pretext_logits(512)
        report.update({f"pretext {factor}": float((z.argmax(1) == labels[:, k]).float().mean())
                       for k, (factor, z) in enumerate(zip(PRETEXT_FACTORS, logits))})
        return {**report, "statistics_r2": float(1 - mse)}


def _labelled_batch(n: int, size: int, rng: np.random.Generator, device: torch.device, names: list[str]
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` freshly rendered world images (normalised) and their value index for the attributes ``names``."""
    attributes = [sample_attributes(rng) for _ in range(n)]
    images = images_to_tensor(np.stack([render(a, size=size, rng=rng) for a in attributes]))
    targets = torch.tensor([[ATTRIBUTES[name].index(getattr(a, name)) for name in names] for a in attributes])
    return images.to(device), targets.to(device)


def build_clip(recipe: CLIPRecipe, out_dir: Path, progress: bool = True, device: str = BUILD_DEVICE) -> dict:
    """Pretrain the embedded CLIP on the world corpus and save it as an open_clip local-dir folder.

    Three phases: a supervised warm start of the image tower (:func:`warm_start_vision`); ClipLoss
    with the image tower locked for ``locked_image_fraction`` of the steps, so the text tower
    learns to name what the image tower already sees (LiT, Zhai et al. 2022); then ClipLoss on
    both towers. The build is reproducible (:func:`~mmft_kit.embedded.reproducible.reproducible`).

    Args:
        recipe: what to build.
        out_dir: the folder to save into.
        progress: show progress bars.
        device: where to train; the default CPU gives the same weights on every machine.

    Returns:
        The build report (time, warm-start accuracy, final loss, zero-shot accuracy per attribute).
    """
    with reproducible(recipe.seed) as generator:
        return _build_clip(recipe, Path(out_dir), progress, torch.device(device), generator)


def _build_clip(recipe: CLIPRecipe, out_dir: Path, progress: bool, device: torch.device,
                generator: torch.Generator) -> dict:
    start = time.time()
    cfg = recipe.model_cfg()
    model = open_clip.model.CLIP(**cfg).to(device)
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=cfg["text_cfg"]["context_length"])
    loss_fn = open_clip.ClipLoss()

    corpus = make_corpus(recipe.corpus_size, seed=recipe.seed, image_size=recipe.image_size,
                         group_size=recipe.family_size, resample=recipe.family_resample,
                         name_rates=CLASS_NAME_SETTINGS[recipe.class_names])
    per_image = len(corpus.texts[0])
    tokens = tokenizer([t for texts in corpus.texts for t in texts]).view(len(corpus), per_image, -1)
    images = images_to_tensor(corpus.images)
    warm_start_accuracy = warm_start_vision(model, recipe, np.random.default_rng(recipe.seed + 1), progress)

    optimizer = torch.optim.AdamW(decay_groups(model.named_parameters(), recipe.weight_decay, ("embedding",)),
                                  lr=recipe.lr, betas=(0.9, 0.98), eps=1e-6)
    steps_per_epoch = len(corpus) // recipe.batch_size
    total = steps_per_epoch * recipe.epochs
    scheduler = make_scheduler(optimizer, "cosine", total, max(1, int(recipe.warmup_fraction * total)))
    model.train()
    locked = int(recipe.locked_image_fraction * total)
    model.visual.requires_grad_(locked == 0)
    bar = tqdm(total=total, desc="pretraining embedded CLIP", disable=not progress, mininterval=2.0)
    step, last_loss = 0, float("nan")
    for _ in range(recipe.epochs):
        # Batches of whole families (hard negatives), families in random order.
        families = torch.randperm(len(corpus) // corpus.group_size, generator=generator)
        order = (families[:, None] * corpus.group_size + torch.arange(corpus.group_size)).flatten()
        for b in range(steps_per_epoch):
            index = order[b * recipe.batch_size:(b + 1) * recipe.batch_size]
            which = torch.randint(per_image, (len(index),), generator=generator)
            text = tokens[index, which].to(device)
            image_features, text_features, logit_scale = model(images[index].to(device), text)[:3]
            loss = loss_fn(image_features, text_features, logit_scale)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            step, last_loss = step + 1, loss.item()
            if step == locked:
                model.visual.requires_grad_(True)
            bar.update()
            bar.set_postfix(loss=f"{last_loss:.3f}", refresh=False)
    bar.close()

    zero_shot = attribute_zero_shot(model, tokenizer, n_images=recipe.eval_images, image_size=recipe.image_size,
                                    device=device)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "model_cfg": cfg,
        "preprocess_cfg": {"mean": list(OPENAI_DATASET_MEAN), "std": list(OPENAI_DATASET_STD),
                           "interpolation": "bicubic", "resize_mode": "shortest"},
    }
    (out_dir / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, out_dir / "open_clip_pytorch_model.bin")
    return {
        "kind": "clip",
        "recipe": asdict(recipe),
        "build_seconds": round(time.time() - start, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": total,
        "warm_start_accuracy": warm_start_accuracy,
        "final_loss": last_loss,
        "logit_scale": float(model.logit_scale.detach().exp()),
        "zero_shot": zero_shot,
    }
