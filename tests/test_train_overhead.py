"""The trainer-overhead benchmark script runs end to end on the small architecture and writes its figures."""

from __future__ import annotations

import importlib
import json

import pytest


@pytest.mark.slow  # three loops on the ci CLIP architecture: ~20 s on 2 busy cores
def test_benchmark_prints_the_ratio_last_and_writes_its_figures(tmp_path, capsys):
    bench = importlib.import_module("benchmarks.train_overhead")
    out = tmp_path / "overhead.json"
    result = bench.main(["--size", "ci", "--shots", "8", "--rounds", "2", "--out", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"ratio={result['ratio']:.3f}"
    saved = json.loads(out.read_text())
    assert saved["ratio"] == pytest.approx(saved["steps_per_second"]["kit"] / saved["steps_per_second"]["bare"])
    assert saved["flops_per_step"] > 0 and 0 < saved["fp32_matmul_peak"]
    assert set(saved["steps_per_second"]) == {"kit", "kit, tokenising every batch", "bare"}
