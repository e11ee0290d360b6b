"""PaRe model pieces: srcinit, embedders, bodies (open_clip and transformers), heads, scratch init."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmft_kit.errors import InvalidInputError
from mmft_kit.pare import (
    OpenClipViTBody, PatchEmbed2D, SeqEmbed1D, TabularTokenizer, as_body, build_pare_model, make_embedder, randomize_,
    srcinit, task_from_arrays,
)
from mmft_kit.pare.embedders import pretrained_token_stats


@pytest.fixture(scope="module")
def clip():
    import open_clip

    torch.manual_seed(0)
    return open_clip.model.CLIP(
        embed_dim=32, vision_cfg=dict(image_size=32, patch_size=4, width=32, layers=2, head_width=16),
        text_cfg=dict(context_length=16, vocab_size=100, width=32, layers=1, heads=2))


def _images(n=8, seed=0):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_body_matches_open_clip_forward(clip):
    body = as_body(clip)
    assert isinstance(body, OpenClipViTBody) and body.width == 32 and body.grid == (8, 8)
    visual = clip.visual.eval()
    x = _images(3)
    tokens = visual.conv1(x).flatten(2).transpose(1, 2) + visual.positional_embedding[1:]
    pooled = body.pool(body(tokens))
    torch.testing.assert_close(pooled @ visual.proj, visual(x), rtol=1e-5, atol=1e-5)


def test_srcinit_copies_pretrained_patch_embedding(clip):
    body = as_body(clip)
    emb = PatchEmbed2D(3, 32, 4, 32)
    srcinit(emb, body.patch_embedding, body.grid_positions())
    torch.testing.assert_close(emb.proj.weight, clip.visual.conv1.weight)
    assert torch.count_nonzero(emb.proj.bias) == 0
    torch.testing.assert_close(emb.pos, clip.visual.positional_embedding[1:], rtol=1e-5, atol=1e-5)
    x = _images(2)
    torch.testing.assert_close(emb.project(x), clip.visual.conv1(x).flatten(2).transpose(1, 2))


def test_srcinit_adapts_channels_kernel_and_positions(clip):
    body = as_body(clip)
    w = clip.visual.conv1.weight
    grey = srcinit(PatchEmbed2D(1, 24, 4, 32), body.patch_embedding, body.grid_positions())
    torch.testing.assert_close(grey.proj.weight, w.sum(dim=1, keepdim=True))  # a grey image responds as before
    g = _images(1)[:, :1, :24, :24]
    torch.testing.assert_close(grey.project(g), clip.visual.conv1(g.expand(-1, 3, -1, -1)).flatten(2).transpose(1, 2),
                               rtol=1e-5, atol=1e-5)
    assert grey.pos.shape == (36, 32)
    six = srcinit(PatchEmbed2D(6, 16, 4, 32), body.patch_embedding, None)
    torch.testing.assert_close(six.proj.weight, torch.cat([w, w], dim=1) * 0.5)
    big = srcinit(PatchEmbed2D(3, 32, 8, 32), body.patch_embedding, None)
    assert big.proj.weight.shape == (32, 3, 8, 8)
    torch.testing.assert_close(big.proj.weight.sum(dim=(2, 3)), w.sum(dim=(2, 3)), rtol=1e-4, atol=1e-5)
    seq = srcinit(SeqEmbed1D(8, 128, 8, 32), body.patch_embedding, body.grid_positions())
    flat = clip.visual.positional_embedding[1:]
    torch.testing.assert_close(seq.pos[0], flat[0])
    torch.testing.assert_close(seq.pos[-1], flat[-1])


def test_srcinit_matches_pretrained_token_statistics(clip):
    conv = clip.visual.conv1
    images = _images(16)
    stats = pretrained_token_stats(conv, images)
    emb = srcinit(PatchEmbed2D(3, 32, 4, 32), conv, None, stats)
    torch.testing.assert_close(emb.norm.weight, stats[1])
    torch.testing.assert_close(emb.norm.bias, stats[0])
    with torch.no_grad():
        tokens = emb(images).reshape(-1, 32)
        raw = conv(images).flatten(2).transpose(1, 2).reshape(-1, 32)
    torch.testing.assert_close(tokens.mean(0), raw.mean(0), rtol=0.2, atol=0.2 * float(raw.std()))


def test_embedders_shapes_and_errors():
    assert make_embedder(torch.zeros(1, 24, 24), 16, patch_size=4).num_tokens == 36
    seq = make_embedder(torch.zeros(8, 128), 16)
    assert isinstance(seq, SeqEmbed1D) and seq.num_tokens == 16 and seq(torch.zeros(2, 8, 128)).shape == (2, 16, 16)
    tab = make_embedder(torch.zeros(30), 16)
    assert isinstance(tab, TabularTokenizer) and tab(torch.randn(5, 30)).shape == (5, 30, 16)
    odd = PatchEmbed2D(1, (10, 13), 4, 16)  # padded up to whole patches
    assert odd(torch.zeros(2, 1, 10, 13)).shape == (2, 12, 16)
    assert odd.fold(torch.zeros(2, 12, 16), (10, 13)).shape == (2, 1, 10, 13)
    with pytest.raises(InvalidInputError):
        tab(torch.zeros(5, 29))
    with pytest.raises(InvalidInputError):
        make_embedder(torch.zeros(2, 2, 2, 2), 16)


def _dense_task():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 1, 12, 12, generator=g), torch.randn(40, 12, 12, generator=g)
    return task_from_arrays(x[:30], y[:30], x[30:], y[30:], "dense")


def test_build_model_srcinit_and_heads(clip):
    task = _dense_task()
    model = build_pare_model(task, body=clip, source_images=_images(8), source_classes=6)
    assert model.embedder.num_tokens == 9 and model.source_embedder.num_tokens == 64
    torch.testing.assert_close(model.embedder.proj.weight, clip.visual.conv1.weight.sum(1, keepdim=True))
    out = model(task.x_train[:5])
    assert out.shape == (5, 12, 12)
    assert not any(p.requires_grad for p in model.source_embedder.parameters())
    assert model.body.visual is not clip.visual  # the caller's module is not trained in place
    torch.testing.assert_close(model.source_embedder.proj.weight, clip.visual.conv1.weight)
    cls = task_from_arrays(torch.randn(20, 7), torch.arange(20) % 3, torch.randn(6, 7), torch.arange(6) % 3,
                           "classification")
    m2 = build_pare_model(cls, body=clip)
    assert m2(cls.x_test).shape == (6, 3) and m2.source_embedder is None
    reg = task_from_arrays(torch.randn(20, 8, 16), torch.randn(20), torch.randn(6, 8, 16), torch.randn(6), "regression")
    assert build_pare_model(reg, body=clip)(reg.x_test).shape == (6,)


def test_scratch_reinitialises_body(clip):
    model = build_pare_model(_dense_task(), body=clip, pretrained=False)
    visual = model.body.visual
    assert not torch.allclose(visual.conv1.weight, clip.visual.conv1.weight)
    assert not torch.allclose(visual.transformer.resblocks[0].attn.in_proj_weight,
                              clip.visual.transformer.resblocks[0].attn.in_proj_weight)
    assert not torch.allclose(visual.positional_embedding, clip.visual.positional_embedding)
    twice = randomize_(torch.nn.Linear(4, 4))
    assert twice.weight.abs().max() <= 0.5


def test_transformers_encoder_body():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    bert = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                vocab_size=50, max_position_embeddings=64))
    body = as_body(bert)
    assert body.patch_embedding is None and body.width == 32
    task = task_from_arrays(torch.randn(20, 4, 32), torch.arange(20) % 2, torch.randn(6, 4, 32), torch.arange(6) % 2,
                            "classification")
    model = build_pare_model(task, body=bert, source_images=_images(4))
    assert model.source_embedder is None  # no image patch embedding to copy
    out = model(task.x_test)
    assert out.shape == (6, 2)
    F.cross_entropy(out, task.y_test).backward()
    assert model.body.cls.grad is not None
    with pytest.raises(InvalidInputError):
        model.embed_source(_images(2))
    with pytest.raises(InvalidInputError):
        as_body(torch.nn.Linear(3, 3))
