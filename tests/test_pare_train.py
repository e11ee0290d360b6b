"""The PaRe trainer and its baselines on tiny tasks and a tiny body; ORCA's distances."""

from __future__ import annotations

import math

import pytest
import torch

from mmft_kit.errors import InvalidInputError
from mmft_kit.pare import (
    METHODS, MIXING, PareConfig, align_embedder, build_pare_model, fit, mmd, otdd, replacement_count, signal_task,
    task_from_arrays,
)
from mmft_kit.pare.replace import replace_patches, select_patches
from mmft_kit.pare.train import _TargetScaler, resolve_config, training_loss


@pytest.fixture(scope="module")
def signals():
    return signal_task(n_train=48, n_val=32, n_test=32)


def test_world_source(source):
    assert source.images.shape == (64, 3, 32, 32) and source.num_classes == 6
    assert source.labels.max() < 6 and abs(float(source.images.mean())) < 1.5
    x, y = source.sample(5, torch.Generator().manual_seed(0))
    assert x.shape == (5, 3, 32, 32) and y.shape == (5,)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains(method, body, source, signals):
    cfg = PareConfig(epochs=3, batch_size=16, lr=1e-3, orca_steps=3)
    result = fit(signals, cfg.updated(method=method, seed=1, progress=False), body=body, source=source)
    model = result.model
    assert result.method == method and len(result.history) == 3 and not result.higher_is_better
    assert math.isfinite(result.test) and 0.0 <= result.test <= 1.0 and result.seconds > 0
    assert result.val == min(h.val for h in result.history)
    assert result.history[result.best_epoch].val == result.val
    assert (len(result.extra.get("align_history", [])) == 3) == (method == "orca")
    assert result.extra["task"] == "signals" and result.config["weight_decay"] == 0.01
    ks = [h.extra["k"] for h in result.history]
    if method in MIXING:
        n = model.embedder.num_tokens
        cfg = resolve_config(signals, cfg)
        expected = [min(max(replacement_count(e, 3, cfg.begin_frac * n, cfg.end_frac * n), 0), n, 64)
                    for e in range(3)]
        assert ks == expected and expected[0] > 0
        assert [h.extra["lam"] for h in result.history] == [k / n for k in expected]
        assert [h.extra["gumbel"] for h in result.history] == [True, False, False]
        diag = result.history[0].extra
        assert len(diag["gate_target_q"]) == 5 and len(diag["gate_source_q"]) == 5
        assert len(diag["gate_target_by_token"]) == n and 0.0 <= diag["source_acc_mixed"] <= 1.0
        assert -1.0 <= diag["gate_rank_corr"] <= 1.0 and diag["gate_weight_change"] >= 0.0
    else:
        assert ks == [0, 0, 0] and "gate_target_q" not in result.history[0].extra
    assert set(result.summary()) >= {"method", "seed", "metric", "test", "val", "seconds", "task"}


def test_pare_trains_gate_and_source_head_not_source_embedder(body, source, signals):
    from mmft_kit.runtime import seed_everything

    seed_everything(0)  # fit builds its model right after seeding like this
    start = build_pare_model(signals, body=body, source_images=source.images, source_classes=6)
    model = fit(signals, PareConfig(epochs=1, batch_size=16, seed=0, progress=False), body=body, source=source).model
    torch.testing.assert_close(model.source_embedder.proj.weight, start.source_embedder.proj.weight)
    torch.testing.assert_close(model.source_embedder.norm.weight, start.source_embedder.norm.weight)
    assert not torch.allclose(model.gate.fc.weight, start.gate.fc.weight)  # the Gumbel epoch trained the gate
    assert not torch.allclose(model.source_head.weight, start.source_head.weight)
    assert not torch.allclose(model.embedder.proj.weight, start.embedder.proj.weight)


def test_training_loss_is_the_lambda_weighted_pare_loss(body, source, signals):
    import torch.nn.functional as F

    model = build_pare_model(signals, body=body, source_images=source.images, source_classes=6).eval()
    scaler, cfg = _TargetScaler(signals), resolve_config(signals, PareConfig(mix_weight=1.0))
    x, y = signals.x_train[:8], signals.y_train[:8]
    images, labels = source.sample(8, torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = training_loss(model, signals, scaler, x, y, 0, False, cfg)
        torch.testing.assert_close(plain, F.cross_entropy(model(x), y))
        k, n = 4, model.embedder.num_tokens
        full = training_loss(model, signals, scaler, x, y, k, False, cfg, (images, labels))
        none = training_loss(model, signals, scaler, x, y, k, False, cfg.model_copy(update={"mix_weight": 0.0}),
                             (images, labels))
        tokens, src = model.embed(x), model.embed_source(images)
        keep, take = select_patches(model.gate(tokens), model.gate(src), k, differentiable=False)
        pooled, patches = model.encode(replace_patches(tokens, src, keep, take))
        lam, share = k / n, k / src.shape[1]  # the source term is weighted by the share of the source present
        expected = (plain + (1 - lam) * F.cross_entropy(model.predict(pooled, patches), y)
                    + share * F.cross_entropy(model.source_head(pooled), labels))
    assert lam == 0.25 and share == 4 / 64
    torch.testing.assert_close(full, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(none, plain, rtol=1e-5, atol=1e-5)


def test_same_seed_same_result(body, source, signals):
    cfg = PareConfig(epochs=1, batch_size=16)
    a = fit(signals, cfg.updated(method="pare", seed=3, progress=False), body=body, source=source)
    b = fit(signals, cfg.updated(method="pare", seed=3, progress=False), body=body, source=source)
    assert a.test == b.test and [h.loss for h in a.history] == [h.loss for h in b.history]


def test_dense_and_regression_tasks(body, source):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 1, 8, 8, generator=g)
    dense = task_from_arrays(x[:40], x[:40, 0] * 2 + 1, x[40:], x[40:, 0] * 2 + 1, "dense")
    assert dense.metric_name == "relative_l2"
    result = fit(dense, PareConfig(epochs=2, batch_size=16, lr=3e-3, progress=False), body=body, source=source)
    assert result.history[0].extra["k"] > 0 and math.isfinite(result.test)
    cfg = resolve_config(dense, PareConfig())
    assert cfg.mix_weight == 0.3 and cfg.begin_frac == pytest.approx(1000 / 3136) and cfg.source_objective == "mask"
    assert result.config["source_objective"] == "mask"  # world_source renders object masks
    reg = task_from_arrays(torch.randn(40, 6), torch.randn(40), torch.randn(8, 6), torch.randn(8), "regression")
    r = fit(reg, PareConfig(epochs=1, method="finetune", progress=False), body=body, source=source)
    assert r.metric == "rmse" and r.test > 0
    assert resolve_config(signals_like(), PareConfig()).mix_weight == 0.1


def signals_like():
    return task_from_arrays(torch.randn(10, 2, 16), torch.arange(10) % 2, torch.randn(4, 2, 16), torch.arange(4) % 2,
                            "classification")


def test_unknown_or_foreign_method_is_a_clear_error():
    import mmft_kit.methods  # noqa: F401  (every family registered)

    with pytest.raises(InvalidInputError, match="unknown method 'mixup'"):
        PareConfig(method="mixup")
    with pytest.raises(InvalidInputError, match="runs with TrainConfig"):
        PareConfig(method="mmft")


def test_distances():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=g)
    y = torch.arange(40) % 2
    assert float(otdd(x, y, x, y)) == pytest.approx(0.0, abs=1e-5)
    assert float(otdd(x + 3, y, x, y)) > float(otdd(x + 1, y, x, y)) > 0
    assert float(otdd(x, 1 - y, x, y)) == pytest.approx(0.0, abs=1e-5)  # class names do not matter ...
    mixed = torch.randperm(40, generator=g) % 2
    assert float(otdd(x, mixed, x, y)) > 0.05  # ... but which points share a class does
    assert float(mmd(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(mmd(x + 2, x)) > float(mmd(x + 0.5, x)) > 0


@pytest.mark.parametrize("objective", ["otdd", "mmd"])
def test_orca_alignment_reduces_distance(objective, body, source, signals):
    torch.manual_seed(0)
    model = build_pare_model(signals, body=body, source_images=source.images, source_classes=6)
    history = align_embedder(model, signals, source, objective=objective, steps=10, lr=1e-2, max_target=48,
                             progress=False)
    assert len(history) == 10 and history[-1] < history[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda(body, source, signals):
    result = fit(signals, PareConfig(epochs=2, batch_size=16, device="cuda", progress=False), body=body,
                 source=source)
    assert math.isfinite(result.test)
