"""PaRe's replacement schedule, Gumbel top-k, patch replacement and the λ-weighted loss."""

from __future__ import annotations

import pytest
import torch

from mmft_kit.errors import InvalidInputError
from mmft_kit.pare import (
    PatchGate, gumbel_topk, pare_loss, replace_patches, replacement_count, select_patches, topk_mask,
)


@pytest.mark.parametrize("begin,end,epochs", [(2000, 1500, 60), (1000, 500, 100), (32, 32, 15), (11.5, 5.7, 7)])
def test_replacement_count_matches_formula(begin, end, epochs):
    for epoch in range(epochs + 1):
        assert replacement_count(epoch, epochs, begin, end) == int(begin - end * epoch / epochs)


def test_replacement_count_known_values():
    assert replacement_count(0, 60, 2000, 1500) == 2000
    assert replacement_count(30, 60, 2000, 1500) == 1250
    assert replacement_count(59, 60, 2000, 1500) == 525
    assert replacement_count(14, 15, 32, 32) == 2  # int(32 - 29.866...) truncates
    with pytest.raises(InvalidInputError):
        replacement_count(0, 0, 1, 1)


@pytest.mark.parametrize("k", [0, 1, 5, 15, 29, 30])
def test_gumbel_topk_forward_is_exact_k_hot(k):
    scores = torch.rand(6, 30, generator=torch.Generator().manual_seed(k))
    mask = gumbel_topk(scores, k, generator=torch.Generator().manual_seed(1))
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert mask.sum(dim=1).tolist() == [float(k)] * 6


def test_gumbel_topk_relaxed_sums_to_k_and_is_random():
    scores = torch.rand(4, 20, generator=torch.Generator().manual_seed(0))
    soft = gumbel_topk(scores, 7, hard=False, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(soft.sum(dim=1), torch.full((4,), 7.0))
    a = gumbel_topk(scores, 7, generator=torch.Generator().manual_seed(1))
    b = gumbel_topk(scores, 7, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(a, b)  # the Gumbel noise matters


def test_gumbel_topk_prefers_high_scores():
    scores = torch.linspace(-30, 30, 12).expand(500, 12)  # gaps of ~5.5 mostly beat the Gumbel noise
    mask = gumbel_topk(scores, 4, generator=torch.Generator().manual_seed(0))
    assert (mask[:, 8:].sum(dim=1) == 4).float().mean() > 0.97
    low = torch.rand(500, 12, generator=torch.Generator().manual_seed(1))  # sigmoid-range scores: near random
    picked = gumbel_topk(low, 4, generator=torch.Generator().manual_seed(2))
    top = topk_mask(low, 4)
    assert ((picked * top).sum(dim=1) == 4).float().mean() < 0.2


def test_gumbel_topk_passes_gradient_to_gate():
    torch.manual_seed(0)
    gate = PatchGate(8)
    tokens = torch.randn(3, 12, 8)
    mask = gumbel_topk(gate(tokens), 4, generator=torch.Generator().manual_seed(0))
    (mask * torch.randn(3, 12)).sum().backward()
    assert gate.fc.weight.grad is not None and gate.fc.weight.grad.abs().sum() > 0
    assert gate.fc.bias.grad.abs() > 0


def _tokens(batch: int, n: int, offset: float) -> torch.Tensor:
    # token (b, i) is filled with the value offset + 100 b + i: every token is recognisable
    values = offset + 100 * torch.arange(batch)[:, None] + torch.arange(n)[None, :]
    return values[..., None].expand(batch, n, 4).float().clone()


def test_replace_patches_writes_exactly_the_intended_slots():
    target, source = _tokens(2, 6, 0.0), _tokens(2, 5, 1000.0)
    keep = torch.ones(2, 6)
    keep[0, [1, 4]] = 0
    keep[1, [0, 5]] = 0
    take = torch.zeros(2, 5)
    take[0, [3, 0]] = 1
    take[1, [2, 4]] = 1
    out = replace_patches(target, source, keep, take)
    expected = target.clone()
    expected[0, 1], expected[0, 4] = source[0, 0], source[0, 3]  # i-th source pick → i-th free slot
    expected[1, 0], expected[1, 5] = source[1, 2], source[1, 4]
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(target, _tokens(2, 6, 0.0))  # inputs untouched


def test_replace_patches_rejects_inconsistent_masks():
    target, source = _tokens(1, 4, 0.0), _tokens(1, 4, 1000.0)
    keep = torch.tensor([[1.0, 0.0, 1.0, 1.0]])
    take = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    with pytest.raises(InvalidInputError):
        replace_patches(target, source, keep, take)


def test_select_patches_replaces_lowest_target_with_highest_source():
    gen = torch.Generator().manual_seed(3)
    target_scores, source_scores = torch.rand(4, 9, generator=gen), torch.rand(4, 16, generator=gen)
    target, source = _tokens(4, 9, 0.0), _tokens(4, 16, 1000.0)
    keep, take = select_patches(target_scores, source_scores, 3, differentiable=False)
    out = replace_patches(target, source, keep, take)
    for b in range(4):
        low = set(target_scores[b].argsort()[:3].tolist())
        high = set(source_scores[b].argsort(descending=True)[:3].tolist())
        changed = {i for i in range(9) if not torch.equal(out[b, i], target[b, i])}
        assert changed == low  # exactly the three lowest-scored target slots, nothing else
        written = {int(out[b, i, 0].item() - 1000 - 100 * b) for i in changed}
        assert written == high
    assert keep.sum(1).tolist() == [6.0] * 4 and take.sum(1).tolist() == [3.0] * 4
    torch.testing.assert_close(topk_mask(target_scores, 6), keep)


def test_differentiable_replacement_keeps_values_and_trains_gate():
    torch.manual_seed(0)
    gate = PatchGate(4)
    target, source = torch.randn(2, 8, 4), torch.randn(2, 10, 4)
    keep, take = select_patches(gate(target), gate(source), 3, differentiable=True,
                                generator=torch.Generator().manual_seed(0))
    out = replace_patches(target, source, keep, take)
    replaced = (keep.detach() < 0.5)
    assert replaced.sum(1).tolist() == [3, 3]
    torch.testing.assert_close(out[~replaced], target[~replaced])  # forward values are exact tokens
    picked = source[take.detach() > 0.5].reshape(2, 3, 4)
    torch.testing.assert_close(out[replaced].reshape(2, 3, 4), picked)
    out.pow(2).sum().backward()
    assert gate.fc.weight.grad.abs().sum() > 0


def test_select_patches_bounds():
    with pytest.raises(InvalidInputError):
        select_patches(torch.rand(1, 5), torch.rand(1, 3), 4, differentiable=False)


def test_pare_loss_is_lambda_weighted():
    main, mixed, source = torch.tensor(2.0), torch.tensor(3.0), torch.tensor(5.0)
    lam = 0.25
    assert float(pare_loss(main, mixed, source, lam, 1.0)) == pytest.approx(2 + 0.75 * 3 + 0.25 * 5)
    assert float(pare_loss(main, mixed, source, lam, 0.3)) == pytest.approx(2 + 0.3 * (0.75 * 3 + 0.25 * 5))
    assert float(pare_loss(main, mixed, source, 0.0, 1.0)) == pytest.approx(5.0)
