"""The gate's learning signal, the random-gate control, paired random streams, the per-kind settings,
the mechanism task and the gate diagnostics."""

from __future__ import annotations

import pytest
import torch

from mmft_kit.errors import InvalidInputError
from mmft_kit.pare import (
    MIX_WEIGHTS, SOURCE_OBJECTIVES, GateMonitor, PareConfig, build_pare_model, fit, mechanism_task,
    random_streams, relaxed_replace, replace_patches, resolve_config, task_from_arrays, task_kind,
)
from mmft_kit.pare.mechanism import auroc_of_scores, informative_mask
from mmft_kit.pare.train import make_optimizer, mask_tokens


@pytest.fixture(scope="module")
def mech():
    return mechanism_task(n_features=8, informative=2, n_train=64, n_val=32, n_test=32)


def _keep_and_take(batch: int, n: int, m: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    keep = torch.ones(batch, n)
    keep[:, :k] = 0.0
    take = torch.zeros(batch, m)
    take[:, -k:] = 1.0
    return keep.requires_grad_(), take.requires_grad_()


@pytest.mark.parametrize("rule", ["authors", "relaxed"])
def test_replaced_slot_gets_gradient_only_under_the_relaxed_signal(rule):
    g = torch.Generator().manual_seed(0)
    target, source, weights = torch.randn(2, 6, 4, generator=g), torch.randn(2, 5, 4, generator=g), torch.randn(2, 6, 4)
    keep, take = _keep_and_take(2, 6, 5, 2)
    mix = relaxed_replace if rule == "relaxed" else replace_patches
    mixed = mix(target, source, keep, take)
    torch.testing.assert_close(mixed, replace_patches(target, source, keep, take))  # same forward value
    (mixed * weights).sum().backward()
    replaced = keep.grad[:, :2]
    if rule == "authors":
        assert torch.equal(replaced, torch.zeros_like(replaced))
    else:  # ⟨∂L/∂slot, target − source written there⟩
        written = source[:, -2:]
        expected = ((weights[:, :2] * (target[:, :2] - written)).sum(-1))
        torch.testing.assert_close(replaced, expected)
        assert torch.equal(keep.grad[:, 2:], torch.zeros(2, 4))  # kept slots pass none


def test_random_gate_control_never_changes_its_gate(body, source, mech):
    from mmft_kit.runtime import seed_everything

    seed_everything(2)
    start = build_pare_model(mech, body=body, source_images=source.images, source_classes=6)
    cfg = PareConfig(epochs=2, batch_size=16, gumbel_frac=1.0, gate_signal="relaxed", gate_lr_scale=30.0)
    result = fit(mech, cfg.updated(method="pare_random_gate", seed=2, progress=False), body=body, source=source)
    model = result.model
    torch.testing.assert_close(model.gate.fc.weight, start.gate.fc.weight, rtol=0, atol=0)
    torch.testing.assert_close(model.gate.fc.bias, start.gate.fc.bias, rtol=0, atol=0)
    assert all(h.extra["gate_weight_change"] == 0.0 and h.extra["k"] > 0 for h in result.history)
    trained = fit(mech, cfg.updated(method="pare", seed=2, progress=False), body=body, source=source).model
    assert not torch.allclose(trained.gate.fc.weight, start.gate.fc.weight)


def test_methods_with_one_seed_draw_identical_batch_orders(body, source, mech):
    cfg = PareConfig(epochs=2, batch_size=16)
    orders = {(m, s): fit(mech, cfg.updated(method=m, seed=s, progress=False), body=body,
                          source=source).extra["batch_order_sha1"]
              for m in ("finetune", "pare") for s in (0, 1)}
    assert orders[("finetune", 0)] == orders[("pare", 0)] and orders[("finetune", 1)] == orders[("pare", 1)]
    assert orders[("finetune", 0)] != orders[("finetune", 1)]


def test_random_streams_are_independent():
    a, b = random_streams(5), random_streams(5)
    torch.rand(100, generator=a["mix"])  # source / Gumbel draws do not move the batch order
    assert torch.equal(torch.randperm(20, generator=a["order"]), torch.randperm(20, generator=b["order"]))
    assert not torch.equal(torch.randperm(20, generator=random_streams(6)["order"]),
                           torch.randperm(20, generator=random_streams(5)["order"]))


def _task(x_shape: tuple[int, ...], task_type: str):
    x = torch.randn(12, *x_shape)
    y = torch.arange(12) % 2 if task_type == "classification" else torch.randn(12, *x_shape[1:])
    return task_from_arrays(x[:8], y[:8], x[8:], y[8:], task_type, x_val=x[8:], y_val=y[8:])


@pytest.mark.parametrize("shape,task_type,kind,weight,objective", [
    ((3, 8, 8), "classification", "image", 1.0, "ce"),
    ((1, 8, 8), "dense", "dense", 0.3, "mask"),
    ((2, 16), "classification", "sequence", 0.1, "ce"),
    ((6,), "classification", "tabular", 0.1, "ce"),
])
def test_mixing_weight_and_source_objective_follow_the_documented_table(shape, task_type, kind, weight, objective):
    task = _task(shape, task_type)
    cfg = resolve_config(task, PareConfig())
    assert task_kind(task) == kind and MIX_WEIGHTS[kind] == weight and SOURCE_OBJECTIVES[kind] == objective
    assert cfg.mix_weight == weight and cfg.source_objective == objective
    assert resolve_config(task, PareConfig(mix_weight=0.5)).mix_weight == 0.5


def test_config_is_validated():
    with pytest.raises(InvalidInputError):
        PareConfig(epochs=0)
    with pytest.raises(InvalidInputError):
        PareConfig(gate_signal="reinforce")
    with pytest.raises(InvalidInputError):
        PareConfig(wd=0.1)  # the name is weight_decay
    with pytest.raises(InvalidInputError):
        resolve_config(_task((6,), "classification"), PareConfig(source_objective="mask"))
    assert PareConfig(epochs=12).gumbel_epochs == 2 and PareConfig(gumbel_frac=0.0).gumbel_epochs == 0
    assert "mixed-input" in PareConfig.model_fields["mix_weight"].description


def test_gate_has_its_own_parameter_group(body, source, mech):
    model = build_pare_model(mech, body=body, source_images=source.images, source_classes=6)
    optimizer, _ = make_optimizer(model, PareConfig(lr=1e-3, gate_lr_scale=10.0), steps=10)
    gate = {id(p) for p in model.gate.parameters()}
    lrs = {group["initial_lr"] for group in optimizer.param_groups if any(id(p) in gate for p in group["params"])}
    assert lrs == {1e-2}
    assert all(not any(id(p) in gate for p in g["params"]) or all(id(p) in gate for p in g["params"])
               for g in optimizer.param_groups)


def test_mechanism_task_ground_truth(mech):
    informative = informative_mask(mech)
    assert informative.sum() == 2 and mech.x_train.shape == (64, 8)
    x = mech.x_train[:, informative]
    assert torch.equal(mech.y_train, (x.sum(dim=1) > 0).long())
    scores = torch.where(informative, 0.9, 0.1).expand(4, 8)
    assert auroc_of_scores(scores, informative) == 1.0 and auroc_of_scores(-scores, informative) == 0.0
    with pytest.raises(InvalidInputError):
        mechanism_task(n_features=4, informative=4)


def test_gate_monitor_starts_at_identity(body, source, mech):
    model = build_pare_model(mech, body=body, source_images=source.images, source_classes=6)
    monitor = GateMonitor(model, mech.x_val[:16], (source.images[:16], source.labels[:16]), informative_mask(mech))
    figures = monitor.measure(model, k=3)
    assert figures["gate_weight_change"] == 0.0 and figures["gate_rank_corr"] == pytest.approx(1.0)
    assert 0.0 <= figures["source_acc_mixed"] <= 1.0 and 0.0 <= figures["gate_auroc"] <= 1.0
    assert monitor.measure(model, k=0)["source_acc_mixed"] is None


def test_mask_tokens_and_world_masks(source):
    masks = torch.zeros(1, 8, 8)
    masks[0, :4, :4] = 1.0
    tokens = mask_tokens(masks, (4, 4), (4, 4))
    assert tokens.shape == (1, 4, 16) and tokens[0, 0].sum() == 16 and tokens[0, 1:].sum() == 0
    assert mask_tokens(masks, (4, 4), (2, 2)).shape == (1, 4, 4)
    assert source.masks.shape == (64, 32, 32) and 0.02 < float(source.masks.mean()) < 0.6
