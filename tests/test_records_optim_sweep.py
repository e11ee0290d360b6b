"""The shared run record, the decay split and schedules, and the sweep helper."""

import math

import pytest
import torch
from torch import nn

from mmft_kit.errors import InvalidInputError
from mmft_kit.optim import decay_groups, make_scheduler
from mmft_kit.records import EpochRecord, RunResult
from mmft_kit.sweep import paired_difference, summarise, sweep


def _result(method: str, seed: int, test: float) -> RunResult:
    return RunResult(method=method, seed=seed, metric="accuracy", higher_is_better=True, test=test, val=test,
                     best_epoch=1, seconds=0.5, history=[EpochRecord(1, 0.3, 1e-3, test, 0.5, {"k": 3})],
                     config={"lr": 1e-3})


def test_run_result_round_trips_through_dict():
    result = _result("mmft", 0, 0.75)
    again = RunResult.from_dict(result.to_dict())
    assert again == result
    assert again.history[0].extra == {"k": 3}
    assert result.summary()["test"] == 0.75 and "history" not in result.summary()


def test_decay_groups_follow_open_clips_rule():
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    model.logit_scale = nn.Parameter(torch.ones([]))
    model[0].weight.requires_grad_(True)
    groups = decay_groups(model.named_parameters(), 0.1)
    decayed, rest = groups
    assert decayed["weight_decay"] == 0.1 and [p.shape for p in decayed["params"]] == [torch.Size([4, 4])]
    assert rest["weight_decay"] == 0.0 and len(rest["params"]) == 4  # bias, ln weight, ln bias, logit scale


def test_decay_groups_skip_frozen_and_extra_keys():
    model = nn.Module()
    model.pos = nn.Parameter(torch.zeros(3, 4))
    model.proj = nn.Parameter(torch.zeros(4, 4), requires_grad=False)
    groups = decay_groups(model.named_parameters(), 0.1, extra_keys=("pos",), lr=1e-3)
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.0 and groups[0]["lr"] == 1e-3


def test_cosine_schedule_without_warmup_ends_at_zero():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, "cosine", total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] == 1.0 and math.isclose(lrs[5], 0.5, abs_tol=1e-9)
    assert sched.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)


def test_linear_schedule_warms_up_then_decays():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, "linear", total_steps=10, warmup_steps=2)
    lrs = []
    for _ in range(10):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.0, 0.5, 1.0, 0.875])


def test_unknown_schedule_names_the_choices():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(InvalidInputError, match="cosine"):
        make_scheduler(opt, "triangle", total_steps=10)


def test_sweep_pairs_seeds_skips_done_and_reports_each_result():
    calls, seen = [], []

    def run_one(method, seed):
        calls.append((method, seed))
        return _result(method, seed, {"a": 0.6, "b": 0.5}[method] + 0.01 * seed)

    done = [_result("a", 0, 0.6)]
    results = sweep(run_one, ["a", "b"], [0, 1, 2], done=done, on_result=seen.append, progress=False)
    assert calls == [("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert [(r.method, r.seed) for r in results] == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert len(seen) == 5
    mean, se, n = paired_difference(results, "a", "b")
    assert n == 3 and mean == pytest.approx(0.1) and se == pytest.approx(0.0, abs=1e-12)
    assert summarise(results)["a"][0] == pytest.approx(0.61)
