"""Embedded builds are reproducible: two builds of the same recipe give byte-identical weights.

Tiny recipes exercise the same code paths as the shipped ones in seconds; the two builds run in
separate interpreters with different hash seeds and thread settings, as two machines would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmft_kit.embedded.reproducible import BUILD_THREADS, reproducible

BUILD = """
import dataclasses, hashlib, json, sys
from pathlib import Path
from mmft_kit.embedded.clip import CLIP_RECIPES, build_clip
from mmft_kit.embedded.vlm import VLMRecipe, build_vlm

out = Path(sys.argv[1])
clip = dataclasses.replace(CLIP_RECIPES["ci"], corpus_size=64, epochs=1, batch_size=16, vision_warmup_steps=3,
                           eval_images=8)
clip_report = build_clip(clip, out / "clip", progress=False)
vlm = VLMRecipe(vision_steps=3, vision_warmup_steps=1, steps=3, batch_size=4, vision_batch_size=4, warmup_steps=1,
                eval_images=1, vocab_samples=20, max_new_tokens=4, characteristics=("shape",))
vlm_report = build_vlm(vlm, out / "vlm", progress=False)
print(json.dumps({"clip": hashlib.sha256((out / "clip" / "open_clip_pytorch_model.bin").read_bytes()).hexdigest(),
                  "vlm": hashlib.sha256((out / "vlm" / "model.safetensors").read_bytes()).hexdigest(),
                  "clip_loss": clip_report["final_loss"], "vlm_loss": vlm_report["final_loss"]}))
"""


@pytest.mark.slow
def test_two_builds_give_identical_weights(tmp_path):
    runs = []
    for hash_seed, threads in (("1", "1"), ("2", "2")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
        runs.append(subprocess.Popen([sys.executable, "-c", BUILD, str(tmp_path / hash_seed)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0] == results[1]


def test_a_build_leaves_the_callers_torch_settings_as_they_were():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    with reproducible(seed=7) as generator:
        assert torch.get_num_threads() == BUILD_THREADS and torch.are_deterministic_algorithms_enabled()
        inside = torch.rand(2)
        drawn = torch.rand(2, generator=generator)
        torch.nn.Linear(4, 4)  # initialisation draws from the seeded global generator
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()
    assert torch.equal(torch.rand(3), expected)  # the caller's stream goes on untouched
    with reproducible(seed=7) as generator:
        assert torch.equal(torch.rand(2), inside) and torch.equal(torch.rand(2, generator=generator), drawn)
