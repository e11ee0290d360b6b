"""Captioning throughput: batched against one-at-a-time in-process generation, many requests in flight against
one at a time on a served model, and a rerun against a warm store against a cold run.

* in-process: the embedded VLM (``--captioner``, default ``embedded:ci``) captions the same images at
  ``--batch-size`` and at 1;
* served: a local OpenAI-compatible server (:class:`mmft_kit.captions.loopback.LoopbackServer`) that adds
  ``--latency`` seconds to every reply, asked with ``--concurrency`` requests in flight and with one;
* warm store: :func:`mmft_kit.captions.caption_dataset` into a fresh store (the batched captioner), then
  the same call again, which finds every caption in the store.

Prints images per second and each ratio; the headline, last, is ``ratio=<batched/one-at-a-time>``.
Figures are written to ``benchmarks/results/caption_throughput.json``.

    python -m benchmarks.caption_throughput
    python -m benchmarks.caption_throughput --captioner embedded --images 64
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from mmft_kit.captions import build_prompt, caption_dataset
from mmft_kit.captions.loopback import LoopbackServer
from mmft_kit.captions.served import OpenAICaptioner
from mmft_kit.data import dataset_image, dataset_info, dataset_label, get_dataset
from mmft_kit.io import atomic_write_json
from mmft_kit.models import load_captioner
from mmft_kit.params import CaptionerParams, DataParams, add_arguments, read_arguments
from mmft_kit.params.captions import CaptionerSettings

RESULTS = Path(__file__).resolve().parent / "results" / "caption_throughput.json"
#: Options declared by the kit's models, with this benchmark's defaults (the ci VLM on glyphs' val split, the CPU).
OPTIONS = ((CaptionerParams, ("captioner",)), (DataParams, ("dataset",)),
           (CaptionerSettings, ("caption_batch_size", "concurrency", "device")))
DEFAULTS = {"captioner": "embedded:ci", "dataset": "glyphs", "caption_batch_size": 16, "concurrency": 8,
            "device": "cpu"}
FLAGS = {"caption_batch_size": "--batch-size"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=32, help="images per in-process measurement (default: 32)")
    parser.add_argument("--requests", type=int, default=48, help="requests per served measurement (default: 48)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server adds per reply (default: 0.2)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved in-process rounds (default: 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"figures file (default: {RESULTS})")
    for model, names in OPTIONS:  # declared by the kit's parameter models, with this benchmark's defaults
        add_arguments(parser, model, names, DEFAULTS, flags=FLAGS)
    args = parser.parse_args(argv)
    for model, names in OPTIONS:
        read_arguments(args, model, names, DEFAULTS)
    args.batch_size = args.caption_batch_size
    return args


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    dataset = get_dataset(args.dataset, split="val")
    classnames, domain = dataset_info(dataset)
    count = min(args.images, len(dataset))
    images = [dataset_image(dataset, i) for i in range(count)]
    prompts = [build_prompt(classnames[dataset_label(dataset, i)], domain, "visual") for i in range(count)]

    # in-process: one model, its batch size switched between the two measurements
    captioner = load_captioner(args.captioner, device=args.device, batch_size=args.batch_size)
    captioner.caption(images[: args.batch_size], prompts[: args.batch_size])  # warm-up
    single = batched = 0.0
    for _ in range(args.rounds):  # interleaved, so a change in the machine's load hits both alike
        captioner.batch_size = 1
        single += _timed(lambda: captioner.caption(images, prompts))
        captioner.batch_size = args.batch_size
        batched += _timed(lambda: captioner.caption(images, prompts))

    # served: the same server, one request at a time and many in flight
    with LoopbackServer(latency=args.latency) as server:
        served_images = [images[i % count] for i in range(args.requests)]
        served_prompts = [f"{prompts[i % count]} ({i})" for i in range(args.requests)]

        def ask(concurrency: int) -> float:
            client = OpenAICaptioner("loopback", base_url=server.base_url, concurrency=concurrency)
            return _timed(lambda: client.caption(served_images, served_prompts))

        one_request = ask(1)
        in_flight = ask(args.concurrency)

    # warm store: a cold run into a fresh store, then the same run again
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "captions.jsonl"
        subset = torch.utils.data.Subset(dataset, range(count))
        cold = _timed(lambda: caption_dataset(subset, captioner, store, characteristics=["visual"], progress=False))
        warm = _timed(lambda: caption_dataset(subset, captioner, store, characteristics=["visual"], progress=False))

    figures = {
        "captioner": args.captioner, "dataset": args.dataset, "images": count, "batch_size": args.batch_size,
        "device": args.device, "threads": args.threads,
        "in_process": {"rounds": args.rounds, "one_at_a_time_img_s": _rate(count * args.rounds, single),
                       "batched_img_s": _rate(count * args.rounds, batched),
                       "ratio": single / batched},
        "served": {"latency_s": args.latency, "requests": args.requests, "concurrency": args.concurrency,
                   "one_at_a_time_img_s": _rate(args.requests, one_request),
                   "in_flight_img_s": _rate(args.requests, in_flight), "ratio": one_request / in_flight},
        "warm_store": {"cold_img_s": _rate(count, cold), "warm_img_s": _rate(count, warm), "ratio": cold / warm},
    }
    atomic_write_json(args.out, figures)
    served, store_figures, local = figures["served"], figures["warm_store"], figures["in_process"]
    print(f"served ({args.latency:.2f} s added per reply, {args.requests} requests): one at a time "
          f"{served['one_at_a_time_img_s']:.1f} img/s, {args.concurrency} in flight {served['in_flight_img_s']:.1f} "
          f"img/s, served_ratio={served['ratio']:.2f}")
    print(f"warm store ({count} images): cold {store_figures['cold_img_s']:.1f} img/s, warm "
          f"{store_figures['warm_img_s']:.1f} img/s, warm_ratio={store_figures['ratio']:.1f}")
    print(f"in-process {args.captioner} ({count} images, {args.device}, {args.threads} thread(s)): one at a time "
          f"{local['one_at_a_time_img_s']:.2f} img/s, batch {args.batch_size} {local['batched_img_s']:.2f} img/s")
    print(f"written: {args.out}")
    print(f"ratio={local['ratio']:.2f}")
    return figures


if __name__ == "__main__":
    main()
