"""WiSE-FT weight interpolation and the accuracy curve along it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmft_kit.errors import InvalidInputError
from mmft_kit.wiseft import DEFAULT_ALPHAS, interpolate_weights, wise_ft_curve


def make_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))  # BatchNorm brings an integer buffer


@pytest.fixture
def states():
    zeroshot, finetuned = make_model(0), make_model(1)
    finetuned[1].num_batches_tracked.fill_(7)
    with torch.no_grad():
        finetuned[1].running_mean.add_(1.0)
    return zeroshot.state_dict(), finetuned.state_dict()


def test_end_points_are_exact(states):
    zeroshot, finetuned = states
    at_zero = interpolate_weights(zeroshot, finetuned, 0.0)
    at_one = interpolate_weights(zeroshot, finetuned, 1.0)
    for key in finetuned:
        if finetuned[key].is_floating_point():
            assert torch.equal(at_zero[key], zeroshot[key]), key
        assert torch.equal(at_one[key], finetuned[key]), key


def test_half_way_is_the_mean_and_integers_come_from_fine_tuned(states):
    zeroshot, finetuned = states
    half = interpolate_weights(zeroshot, finetuned, 0.5)
    for key in ("0.weight", "0.bias", "1.running_mean"):
        assert torch.allclose(half[key], (zeroshot[key] + finetuned[key]) / 2), key
    assert half["1.num_batches_tracked"].item() == 7
    assert not torch.equal(half["0.weight"], finetuned["0.weight"])


def test_result_does_not_alias_the_inputs(states):
    zeroshot, finetuned = states
    merged = interpolate_weights(zeroshot, finetuned, 1.0)
    merged["0.weight"].add_(1.0)
    merged["1.num_batches_tracked"].add_(1)
    assert not torch.equal(merged["0.weight"], finetuned["0.weight"])
    assert finetuned["1.num_batches_tracked"].item() == 7


def test_infinite_entries_equal_in_both_states_survive():
    mask = torch.tensor([0.0, float("-inf")])
    merged = interpolate_weights({"mask": mask, "w": torch.zeros(2)}, {"mask": mask.clone(), "w": torch.ones(2)}, 0.3)
    assert torch.equal(merged["mask"], mask)
    assert torch.allclose(merged["w"], torch.full((2,), 0.3))


def test_mismatched_keys_raise(states):
    zeroshot, finetuned = states
    fewer = {key: value for key, value in zeroshot.items() if key != "0.bias"}
    with pytest.raises(InvalidInputError, match=r"different keys \(only fine-tuned: \['0.bias'\]"):
        interpolate_weights(fewer, finetuned, 0.5)


def test_mismatched_shapes_raise(states):
    zeroshot, finetuned = states
    wrong = dict(zeroshot, **{"0.bias": torch.zeros(5)})
    with pytest.raises(InvalidInputError, match="'0.bias' has shape"):
        interpolate_weights(wrong, finetuned, 0.5)


def test_curve_evaluates_every_alpha_and_restores_fine_tuned_weights(states):
    zeroshot, _ = states
    model = make_model(1)
    finetuned = model.state_dict()  # the live weights: must survive the loads
    expected_end = {key: value.clone() for key, value in finetuned.items()}
    w_zs, w_ft = zeroshot["0.weight"][0, 0].item(), expected_end["0.weight"][0, 0].item()

    curve = wise_ft_curve(model, zeroshot, finetuned, lambda m: m[0].weight[0, 0].item())

    assert [alpha for alpha, _ in curve] == list(DEFAULT_ALPHAS)
    for alpha, value in curve:
        assert value == pytest.approx((1 - alpha) * w_zs + alpha * w_ft, abs=1e-6)
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected_end[key]), key


def test_curve_restores_weights_when_evaluation_fails(states):
    zeroshot, _ = states
    model = make_model(1)
    expected_end = {key: value.clone() for key, value in model.state_dict().items()}

    def failing(_model):
        raise RuntimeError("evaluation broke")

    with pytest.raises(RuntimeError, match="evaluation broke"):
        wise_ft_curve(model, zeroshot, model.state_dict(), failing, alphas=(0.0,))
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected_end[key]), key
