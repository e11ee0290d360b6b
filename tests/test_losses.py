"""MMFTLoss against hand-written loops, its fallback, symmetry, stability, gradients and ranks."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

import mmft_kit.losses as losses_module
from mmft_kit.errors import InvalidInputError
from mmft_kit.losses import MMFTLoss

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- reference, by loops
def similarities(image, text, scale):
    return [[scale * sum(a * b for a, b in zip(f, g)) for g in text] for f in image]


def log_softmax_row(row):
    top = max(row)
    log_sum = top + math.log(sum(math.exp(v - top) for v in row))
    return [v - log_sum for v in row]


def reference_terms(s, labels, rows):
    """Per-direction (CE, SupCon) averaged over ``rows`` of the square matrix ``s``."""
    n = len(s)
    out = {}
    for name, mat in (("i2t", s), ("t2i", [[s[j][i] for j in range(n)] for i in range(n)])):
        ce = [-log_softmax_row(mat[i])[i] for i in rows]
        sup = []
        for i in rows:
            lp = log_softmax_row(mat[i])
            pos = [j for j in range(n) if j != i and labels[j] == labels[i]]
            if pos:
                sup.append(-sum(lp[j] for j in pos) / len(pos))
        out[name] = (sum(ce) / len(ce), sum(sup) / len(sup) if sup else None)
    return out


def reference_loss(image, text, scale, labels, w, rows=None):
    """(loss, L_clip, L_sup) computed with Python floats."""
    s = similarities(image, text, scale)
    terms = reference_terms(s, labels, rows if rows is not None else range(len(s)))
    clip = (terms["i2t"][0] + terms["t2i"][0]) / 2
    if terms["i2t"][1] is None:
        sup = clip
    else:
        sup = (terms["i2t"][1] + terms["t2i"][1]) / 2
    return w * sup + (1 - w) * clip, clip, sup


def unit(rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float64), dim=-1)


# ---------------------------------------------------------------- fixtures
@pytest.fixture
def small_batch():
    """4 pairs of 2 classes in 3-D, far from the trivial solution."""
    image = unit([[1.0, 0.2, 0.0], [0.7, 0.7, 0.1], [-0.3, 1.0, 0.2], [0.1, -0.4, 1.0]])
    text = unit([[0.9, 0.1, 0.3], [0.2, 1.0, 0.0], [-0.5, 0.6, 0.6], [0.3, 0.1, 0.9]])
    labels = torch.tensor([0, 1, 0, 1])
    return image, text, labels


# ---------------------------------------------------------------- single process
def test_matches_hand_computed_loops(small_batch):
    image, text, labels = small_batch
    expected, clip, sup = reference_loss(image.tolist(), text.tolist(), 3.0, labels.tolist(), w=0.1)
    parts = MMFTLoss(w=0.1)(image, text, 3.0, labels, output_dict=True)
    assert parts["clip_loss"].item() == pytest.approx(0.9 * clip, rel=1e-12)
    assert parts["supcon_loss"].item() == pytest.approx(0.1 * sup, rel=1e-12)
    assert MMFTLoss(w=0.1)(image, text, 3.0, labels).item() == pytest.approx(expected, rel=1e-12)
    assert sup != pytest.approx(clip, rel=1e-3)  # the two terms really differ here


def test_closed_form_supcon_on_one_hot_features():
    """L_sup worked out on paper: anchor 1 has no positive, own pairs stay in the denominators."""
    image = unit([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    text = unit([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 0])
    e = math.e
    # image→text rows (1,0,0), (0,1,1), (1,0,0): anchor 0 → text 2, anchor 2 → text 0.
    i2t = (math.log(e + 2) + (math.log(e + 2) - 1)) / 2
    # text→image rows (1,0,1), (0,1,0), (0,1,0): anchor 0 → image 2, anchor 2 → image 0.
    t2i = ((math.log(2 * e + 1) - 1) + math.log(e + 2)) / 2
    parts = MMFTLoss(w=0.1)(image, text, 1.0, labels, output_dict=True)
    assert parts["supcon_loss"].item() == pytest.approx(0.1 * (i2t + t2i) / 2, rel=1e-12)


def test_w_zero_is_open_clip_clip_loss(small_batch):
    image, text, labels = small_batch
    got = MMFTLoss(w=0.0)(image, text, 2.5, labels)
    assert torch.allclose(got, ClipLoss()(image, text, 2.5), rtol=1e-12)


def test_no_positive_falls_back_to_clip_loss(small_batch):
    image, text, _ = small_batch
    labels = torch.tensor([0, 1, 2, 3])
    parts = MMFTLoss(w=0.3)(image, text, 4.0, labels, output_dict=True)
    clip = ClipLoss()(image, text, 4.0)
    assert torch.allclose(parts["supcon_loss"] / 0.3, clip, rtol=1e-12)
    assert torch.allclose(parts["clip_loss"] + parts["supcon_loss"], clip, rtol=1e-12)


def test_anchor_without_positive_is_left_out():
    """A singleton class contributes to L_clip but not to the SupCon average."""
    image = unit([[1.0, 0.1], [0.2, 1.0], [0.9, -0.3]])
    text = unit([[0.8, 0.3], [0.1, 1.0], [1.0, 0.0]])
    labels = [0, 1, 0]
    _, _, sup = reference_loss(image.tolist(), text.tolist(), 5.0, labels, w=1.0)
    only_pair = reference_terms(similarities(image.tolist(), text.tolist(), 5.0), labels, [0, 2])
    assert sup == pytest.approx((only_pair["i2t"][1] + only_pair["t2i"][1]) / 2)
    assert MMFTLoss(w=1.0)(image, text, 5.0, torch.tensor(labels)).item() == pytest.approx(sup, rel=1e-12)


def test_swapping_image_and_text_gives_the_same_loss(small_batch):
    image, text, labels = small_batch
    loss = MMFTLoss(w=0.1)
    forward = loss(image, text, 3.0, labels, output_dict=True)
    swapped = loss(text, image, 3.0, labels, output_dict=True)
    for key in ("clip_loss", "supcon_loss"):
        assert torch.allclose(forward[key], swapped[key], rtol=1e-12)


def test_stable_at_logit_scale_100():
    torch.manual_seed(0)
    image = F.normalize(torch.randn(16, 8), dim=-1)
    text = F.normalize(image + 0.05 * torch.randn(16, 8), dim=-1)  # diagonal logits ≈ 100
    labels = torch.arange(16) % 4
    logits = 100.0 * image @ text.T
    assert logits.diagonal().min() > 95
    assert not torch.isfinite(torch.exp(logits)).all()  # a raw exp overflows in float32

    got = MMFTLoss(w=0.1)(image, text, torch.tensor(100.0), labels)
    expected, _, _ = reference_loss(image.double().tolist(), text.double().tolist(), 100.0, labels.tolist(), 0.1)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(expected, rel=1e-4)


def test_gradients_reach_both_feature_sets_and_logit_scale(small_batch):
    image, text, labels = small_batch
    raw_image = (image * 2).float().requires_grad_()
    raw_text = (text * 2).float().requires_grad_()
    log_scale = torch.tensor(math.log(10.0), requires_grad=True)
    loss = MMFTLoss(w=0.5)(F.normalize(raw_image, dim=-1), F.normalize(raw_text, dim=-1), log_scale.exp(), labels)
    loss.backward()
    for grad in (raw_image.grad, raw_text.grad, log_scale.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_accepts_a_list_of_labels(small_batch):
    image, text, labels = small_batch
    assert torch.equal(MMFTLoss()(image, text, 2.0, labels.tolist()), MMFTLoss()(image, text, 2.0, labels))


@pytest.mark.parametrize("labels", [torch.tensor([0, 1, 0]), torch.tensor([[0, 1, 0, 1]]), ["a", "b", "c", 4]])
def test_bad_labels_raise(small_batch, labels):
    image, text, _ = small_batch
    with pytest.raises(InvalidInputError, match="labels"):
        MMFTLoss()(image, text, 2.0, labels)


def test_mismatched_feature_batches_raise(small_batch):
    image, text, labels = small_batch
    with pytest.raises(InvalidInputError, match="text features"):
        MMFTLoss()(image, text[:3], 2.0, labels)


@pytest.mark.parametrize("w", [-0.1, 1.5])
def test_weight_out_of_range_raises(w):
    with pytest.raises(InvalidInputError, match="w must lie"):
        MMFTLoss(w=w)


# ---------------------------------------------------------------- two ranks, faked
def _fake_world(monkeypatch, image, text, labels):
    """Make every gather return the full (two-rank) batch; the local half stays in place for grads."""

    def gather_features(image_features, text_features, local_loss, gather_with_grad, rank, world_size, **_):
        half = len(image) // world_size
        all_image, all_text = image.clone(), text.clone()
        all_image[rank * half:(rank + 1) * half] = image_features
        all_text[rank * half:(rank + 1) * half] = text_features
        return all_image, all_text

    monkeypatch.setattr("open_clip.loss.gather_features", gather_features)
    monkeypatch.setattr(losses_module, "gather_labels", lambda local, world_size: labels)


@pytest.mark.parametrize("rank", [0, 1])
def test_global_loss_on_each_rank_equals_the_full_batch(monkeypatch, small_batch, rank):
    image, text, labels = small_batch
    _fake_world(monkeypatch, image, text, labels)
    rows = slice(2 * rank, 2 * rank + 2)
    got = MMFTLoss(w=0.1, rank=rank, world_size=2)(image[rows], text[rows], 3.0, labels[rows])
    expected, _, _ = reference_loss(image.tolist(), text.tolist(), 3.0, labels.tolist(), 0.1)
    assert got.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("labels", [[0, 1, 0, 1], [0, 0, 1, 2], [0, 1, 2, 3]])
def test_local_losses_of_the_ranks_average_to_the_full_batch_loss(monkeypatch, small_batch, labels):
    """Own rows against every column; the SupCon share is normalised by the global anchor count, so the
    ranks' mean (what DDP averages) is the one-process loss even when one rank holds no anchor with a positive."""
    image, text, _ = small_batch
    labels = torch.tensor(labels)
    _fake_world(monkeypatch, image, text, labels)
    per_rank = []
    for rank in (0, 1):
        own = slice(2 * rank, 2 * rank + 2)
        loss = MMFTLoss(w=0.1, local_loss=True, rank=rank, world_size=2)
        parts = loss(image[own], text[own], 3.0, labels[own], output_dict=True)
        s = similarities(image.tolist(), text.tolist(), 3.0)
        terms = reference_terms(s, labels.tolist(), range(own.start, own.stop))
        assert parts["clip_loss"].item() == pytest.approx(0.9 * (terms["i2t"][0] + terms["t2i"][0]) / 2, rel=1e-12)
        per_rank.append(parts["clip_loss"] + parts["supcon_loss"])
    expected, _, _ = reference_loss(image.tolist(), text.tolist(), 3.0, labels.tolist(), 0.1)
    assert ((per_rank[0] + per_rank[1]) / 2).item() == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- two ranks, real gloo group
WORKER = textwrap.dedent(
    """
    import json, sys
    import torch
    import torch.distributed as dist
    from mmft_kit.losses import MMFTLoss

    rank, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    data = json.loads(sys.argv[4])
    image, text = torch.tensor(data["image"]), torch.tensor(data["text"])
    labels = torch.tensor(data["labels"])
    own = slice(2 * rank, 2 * rank + 2)
    result = {}
    for name, options in (("global", {}), ("local", {"local_loss": True, "gather_with_grad": True})):
        loss = MMFTLoss(w=0.1, rank=rank, world_size=2, **options)
        result[name] = loss(image[own], text[own], 3.0, labels[own]).item()
    json.dump(result, open(out, "w"))
    dist.destroy_process_group()
    """
)


@pytest.mark.slow  # two fresh interpreters importing open_clip: ~30 s on 2 busy cores
def test_gloo_two_process_group_gathers_labels(tmp_path, small_batch):
    image, text, labels = small_batch
    data = json.dumps({"image": image.tolist(), "text": text.tolist(), "labels": labels.tolist()})
    (tmp_path / "worker.py").write_text(WORKER)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(tmp_path / "worker.py"), str(rank), port, str(tmp_path / f"{rank}.json"), data],
            env=env,
        )
        for rank in (0, 1)
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0]

    full, _, _ = reference_loss(image.tolist(), text.tolist(), 3.0, labels.tolist(), 0.1)
    results = [json.loads((tmp_path / f"{rank}.json").read_text()) for rank in (0, 1)]
    for result in results:
        assert result["global"] == pytest.approx(full, rel=1e-5)
    assert (results[0]["local"] + results[1]["local"]) / 2 == pytest.approx(full, rel=1e-5)
