"""GPU check: MMFT fine-tuning of an open_clip ViT-B-32 with AMP, and batched captioning, with no download.

    bash benchmarks/gpu_check.sh            # on a GPU machine, under 5 minutes
    bash benchmarks/gpu_check.sh --smoke    # anywhere (CPU): a tiny CLIP, a few steps, the same code paths

Builds an open_clip ViT-B-32 with random weights (no download) and the default embedded captioner
(the shipped weights when they match the code, else the same architecture untrained: captioning
cost depends on the shapes, and an untrained model never stops early, so it is the worst case).
Captions world images in batches, then runs MMFT fine-tuning steps on them twice, through the
kit's trainer (``mmft_kit.train.fine_tune``) and through a bare open_clip loop on the same model
and batches. Prints captions/s, images/s of both, peak GPU memory, and last ``ratio=<kit/bare>``;
writes ``benchmarks/results/gpu_check.json`` (not with ``--smoke``, whose figures only show the code runs).
"""

from __future__ import annotations

import argparse
import copy
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import open_clip

from mmft_kit.captions.prompts import build_prompt
from mmft_kit.data.world import ATTRIBUTES, render, sample_attributes
from mmft_kit.embedded.clip import CLIP_RECIPES, images_to_tensor
from mmft_kit.embedded.vlm import (
    VLM_RECIPES, build_model, build_processor, build_tokenizer, build_vlm, caption_images, world_vocabulary,
)
from mmft_kit.io import atomic_write_json
from mmft_kit.losses import MMFTLoss
from mmft_kit.params import OptimParams, add_arguments, read_arguments
from mmft_kit.params.captions import CaptionerSettings
from mmft_kit.train import TrainConfig, fine_tune, loss_function

RESULTS = Path(__file__).resolve().parent / "results"
#: Options declared by the kit's models; the defaults of the full check and of --smoke.
OPTIONS = ((OptimParams, ("batch_size",)), (CaptionerSettings, ("caption_batch_size", "max_new_tokens")))
FULL = dict(steps=60, batch_size=256, captions=1024, caption_batch_size=128, max_new_tokens=80)
SMOKE = dict(steps=3, batch_size=8, captions=8, caption_batch_size=128, max_new_tokens=8)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a tiny CLIP and a few steps, on CPU when no GPU")
    parser.add_argument("--steps", type=int, default=None, help="fine-tuning steps each way (default 60; smoke 3)")
    parser.add_argument("--captions", type=int, default=None, help="images to caption (default 1024; smoke 8)")
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture (random weights)")
    for model, names in OPTIONS:  # declared by the kit's parameter models; the defaults by mode
        add_arguments(parser, model, names, {n: f"{FULL[n]}; smoke {SMOKE[n]}" for n in names})
    args = parser.parse_args(argv)
    defaults = SMOKE if args.smoke else FULL
    for model, names in OPTIONS:
        read_arguments(args, model, names, defaults)
    for name in ("steps", "captions"):
        if getattr(args, name) is None:
            setattr(args, name, defaults[name])
    return args


def make_clip(args: argparse.Namespace, device: torch.device) -> tuple[torch.nn.Module, object, int]:
    """The CLIP to fine-tune (random weights), its tokenizer and input size."""
    if args.smoke:
        cfg = CLIP_RECIPES["ci"].model_cfg()
        model = open_clip.model.CLIP(**cfg)
        return model.to(device), open_clip.tokenizer.SimpleTokenizer(), cfg["vision_cfg"]["image_size"]
    model = open_clip.create_model(args.model, pretrained=None)
    return model.to(device), open_clip.get_tokenizer(args.model), model.visual.image_size[0]


def make_captioner(device: torch.device):
    """The default embedded VLM: shipped weights when they match the code, else the same architecture untrained."""
    from mmft_kit import zoo
    from transformers import AutoModelForImageTextToText, AutoProcessor

    recipe = VLM_RECIPES["default"]
    folder, _, ready = zoo._locate("vlm", "default", VLM_RECIPES, build_vlm, use_shipped=True)
    if ready:
        return AutoModelForImageTextToText.from_pretrained(folder).to(device).eval(), \
            AutoProcessor.from_pretrained(folder), "trained"
    tokenizer = build_tokenizer(world_vocabulary(recipe.seed, recipe.vocab_samples))
    return build_model(recipe, tokenizer).to(device).eval(), build_processor(recipe, tokenizer), "untrained"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Pairs(torch.utils.data.Dataset):
    """(image, caption, label) triples for the kit's trainer: the images of ``order``, in that order."""

    def __init__(self, images: torch.Tensor, texts: list[str], labels: torch.Tensor, order: torch.Tensor) -> None:
        self.images, self.texts, self.labels, self.order = images, texts, labels, order.tolist()

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int):
        j = self.order[i]
        return self.images[j], self.texts[j], self.labels[j]


def bare_loop(model, images: torch.Tensor, tokens: torch.Tensor, labels: torch.Tensor, batches: list[torch.Tensor],
              lr: float, device: torch.device) -> None:
    """open_clip's training step, nothing else, on data already on the device (tokenised once, up front):
    AMP forward, MMFT loss, scaled backward, fused AdamW, cosine schedule."""
    use_amp = device.type == "cuda"
    criterion = MMFTLoss(w=0.1)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4,
                                  fused=device.type in ("cpu", "cuda"))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(batches), eta_min=0.0)
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    model.train()
    for index in batches:
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            image_features, text_features, logit_scale = model(images[index], tokens[index])[:3]
            loss = criterion(image_features, text_features, logit_scale, labels[index])
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and not args.smoke:
        raise SystemExit("no GPU here: run with --smoke for the CPU check")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    start = time.perf_counter()

    # world images at 32 px (what the captioner sees), upsampled to the CLIP's input size
    n_images = max(args.captions, args.batch_size)
    attrs = [sample_attributes(rng) for _ in range(n_images)]
    small = np.stack([render(a, size=32, rng=rng) for a in attrs])
    labels = torch.tensor([ATTRIBUTES["shape"].index(a.shape) for a in attrs])  # the class: the shape

    vlm, processor, captioner_state = make_captioner(device)
    prompts = [build_prompt("object", "world", "visual", 20) for _ in range(args.captions)]
    caption_images(vlm, processor, list(small[:min(4, args.captions)]), prompts[:4], max_new_tokens=4)  # warm-up
    synchronize(device)
    t0 = time.perf_counter()
    captions = caption_images(vlm, processor, list(small[:args.captions]), prompts, args.max_new_tokens,
                              batch_size=args.caption_batch_size)
    synchronize(device)
    caption_rate = args.captions / (time.perf_counter() - t0)
    del vlm

    model, tokenizer, size = make_clip(args, device)
    images = F.interpolate(images_to_tensor(small), size=(size, size), mode="bilinear", align_corners=False)
    texts = [captions[i % len(captions)] or "an object" for i in range(n_images)]
    # the same images and captions, batches of the same shapes (the kit's loader shuffles their order),
    # each run from the same initial weights after one warm-up pass
    order = torch.from_numpy(np.random.default_rng(1).integers(n_images, size=args.steps * args.batch_size))
    batches = [index.to(device) for index in order.split(args.batch_size)]
    initial = copy.deepcopy(model.state_dict())
    pairs = Pairs(images, texts, labels, order)
    kit_loss = loss_function("mmft", tokenizer)
    on_device = images.to(device), tokenizer(texts).to(device), labels.to(device)

    def kit_run() -> None:
        fine_tune(model, pairs, kit_loss, None, TrainConfig(epochs=1, lr=1e-5, batch_size=args.batch_size,
                                                            device=str(device), amp=True, progress=False))

    def bare_run() -> None:
        bare_loop(model, *on_device, batches, lr=1e-5, device=device)

    rates = {}
    for name, run in (("bare", bare_run), ("kit", kit_run)):
        model.load_state_dict(initial)
        run()  # warm-up: kernels chosen, memory pools filled
        model.load_state_dict(initial)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        synchronize(device)
        t0 = time.perf_counter()
        run()
        synchronize(device)
        rates[name] = args.steps * args.batch_size / (time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    ratio = rates["kit"] / rates["bare"]

    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "smoke": args.smoke, "model": "ci embedded CLIP architecture" if args.smoke else args.model,
        "captioner": f"default embedded VLM ({captioner_state})", "image_size": size,
        "steps": args.steps, "batch_size": args.batch_size, "captions": args.captions,
        "caption_batch_size": args.caption_batch_size, "max_new_tokens": args.max_new_tokens,
        "captions_per_second": round(caption_rate, 1), "kit_images_per_second": round(rates["kit"], 1),
        "bare_images_per_second": round(rates["bare"], 1), "peak_gpu_memory_gib": None if peak is None else
        round(peak, 2), "ratio": round(ratio, 3), "seconds": round(time.perf_counter() - start, 1),
        "torch": torch.__version__,
    }
    if not args.smoke:
        atomic_write_json(RESULTS / "gpu_check.json", result)
    print(f"device: {result['device']}; CLIP: {result['model']} at {size} px; captioner: {result['captioner']}")
    print(f"captioning: {caption_rate:.1f} captions/s ({args.captions} images, batch {args.caption_batch_size}, "
          f"up to {args.max_new_tokens} new tokens)")
    print(f"MMFT fine-tuning, AMP, batch {args.batch_size}, {args.steps} steps: kit {rates['kit']:.1f} images/s, "
          f"bare open_clip loop {rates['bare']:.1f} images/s")
    print("peak GPU memory (kit run): " + ("n/a (CPU)" if peak is None else f"{peak:.2f} GiB"))
    print(f"total: {result['seconds']} s")
    print(f"ratio={ratio:.3f}")
    return result


if __name__ == "__main__":
    main()
