"""The GPU check script runs end to end in its CPU smoke mode (tiny CLIP, a few steps)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.slow
def test_gpu_check_smoke_runs_both_loops_and_prints_the_ratio_last(capsys):
    module = importlib.import_module("benchmarks.gpu_check")
    result = module.main(["--smoke", "--steps", "2", "--batch-size", "4", "--captions", "4", "--max-new-tokens", "3"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"ratio={result['ratio']:.3f}" and result["ratio"] > 0
    assert result["kit_images_per_second"] > 0 and result["bare_images_per_second"] > 0
    assert result["captions_per_second"] > 0 and result["steps"] == 2 and result["batch_size"] == 4
