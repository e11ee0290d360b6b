"""PaRe's mechanism options: the uniform-selection control, position-preserving placement, Gumbel on the gate's
logits, the source options, and the body provenance that keeps results of different bodies apart."""

from __future__ import annotations

import pytest
import torch

from mmft_kit.errors import InvalidInputError
from mmft_kit.pare import (PareConfig, build_pare_model, check_one_body, choose_slots, fit, load_body,
                           replace_patches, select_patches, source_image_size, spherical_task, weights_checksum)
from mmft_kit.pare.provenance import SPEC_ATTRIBUTE


@pytest.fixture(scope="module")
def sphere():
    return spherical_task(per_class=(2, 1, 1), size=16)


def test_position_placement_keeps_each_source_patch_at_its_own_position():
    g = torch.Generator().manual_seed(0)
    target, source = torch.randn(3, 9, 4, generator=g), torch.randn(3, 9, 4, generator=g)
    keep, take = select_patches(torch.rand(3, 9, generator=g), torch.rand(3, 9, generator=g), 4,
                                differentiable=False, placement="position")
    mixed = replace_patches(target, source, keep, take)
    replaced = keep < 0.5
    assert int(replaced.sum()) == 12 and torch.equal(take.bool(), replaced)
    torch.testing.assert_close(mixed[replaced], source[replaced])
    torch.testing.assert_close(mixed[~replaced], target[~replaced])


def test_position_placement_with_the_gumbel_top_k_and_unequal_counts():
    g = torch.Generator().manual_seed(1)
    keep, take = select_patches(torch.rand(2, 9), torch.rand(2, 9), 3, differentiable=True, generator=g,
                                placement="position")
    assert torch.equal(take, (keep.detach() < 0.5).float()) and float(take.sum()) == 6
    with pytest.raises(InvalidInputError, match="equal token counts"):
        select_patches(torch.rand(2, 9), torch.rand(2, 16), 3, differentiable=False, placement="position")


def test_uniform_selection_ignores_the_gate_and_draws_every_slot_alike(body, source, sphere):
    model = build_pare_model(sphere, body=body, source_images=source.images, source_classes=6)
    cfg = PareConfig(method="pare_uniform")
    tokens, src_tokens = model.embed(sphere.x_train[:1].expand(4000, -1, -1, -1)), torch.randn(4000, 64, 32)
    keep, take = choose_slots(model, tokens, src_tokens, 4, True, cfg, torch.Generator().manual_seed(0))
    assert not keep.requires_grad and float((1 - keep).sum(1).max()) == 4 and float(take.sum(1).min()) == 4
    rate = (1 - keep).mean(0)  # every slot replaced at about 4/16 of the samples, whatever the gate says
    assert float((rate - 0.25).abs().max()) < 0.04
    gate_keep, _ = choose_slots(model, tokens, src_tokens, 4, False, cfg.updated(method="pare"))
    assert torch.equal(gate_keep, gate_keep[:1].expand_as(gate_keep))  # the gate picks the same slots each time


def test_logit_and_sigmoid_inputs_agree_on_the_deterministic_top_k(body, source, sphere):
    model = build_pare_model(sphere, body=body, source_images=source.images, source_classes=6)
    tokens, src_tokens = model.embed(sphere.x_train), model.embed_source(source.images[: len(sphere.x_train)])
    masks = [choose_slots(model, tokens, src_tokens, 5, False, PareConfig(gumbel_input=gi)) for gi in
             ("sigmoid", "logit")]
    assert all(torch.equal(a, b) for a, b in zip(*masks))
    torch.testing.assert_close(torch.sigmoid(model.gate.logits(tokens)), model.gate(tokens))


def test_pare_uniform_run_keeps_its_gate_and_records_checks_and_body(body, source, sphere):
    cfg = PareConfig(method="pare_uniform", epochs=2, batch_size=8, progress=False, seed=0)
    result = fit(sphere, cfg, body=body, source=source)
    assert result.extra["checks"]["epochs"] == 2 and result.extra["checks"]["best_epoch"] == result.best_epoch
    assert all(h.extra["gate_weight_change"] == 0.0 for h in result.history)
    assert result.extra["body"] == {"body": None, "recipe_hash": None, "weights_sha256": weights_checksum(body)}


def test_source_rendered_with_the_targets_token_count(sphere):
    body = load_body("tiny-random")
    assert source_image_size(sphere, body) == 16  # 16 x 16 target at patch 4: 16 tokens, as a 16 x 16 source
    cfg = PareConfig(method="pare", epochs=1, batch_size=8, progress=False, source_tokens="target",
                     source_label="colour", placement="position")
    result = fit(sphere, cfg, body=body)
    assert result.extra["source_tokens"] == result.extra["num_tokens"] == 16
    assert result.extra["body"]["body"] == "tiny-random" and result.extra["body"]["recipe_hash"] is None


def test_loaded_bodies_carry_their_name_and_the_embedded_recipe_hash():
    from mmft_kit.pare import body_record
    from mmft_kit.zoo import ensure_clip, shipped_hash

    body = load_body("embedded:ci")
    record = body_record(body)
    assert getattr(body, SPEC_ATTRIBUTE) == "embedded:ci"
    assert record["recipe_hash"] == shipped_hash(ensure_clip("ci", progress=False))
    assert record["weights_sha256"] == weights_checksum(load_body("embedded:ci"))  # the same weights, the same sum


def test_results_of_different_bodies_are_refused():
    a = {"body": "embedded", "recipe_hash": "abc", "weights_sha256": "1111"}
    b = {"body": "embedded:ci", "recipe_hash": "def", "weights_sha256": "2222"}
    rows = [{"extra": {"body": a}}, {"extra": {"body": a}}]
    assert check_one_body(rows) == a and check_one_body(rows, expected=a) == a
    with pytest.raises(InvalidInputError, match="different bodies"):
        check_one_body(rows + [{"extra": {"body": b}}])
    with pytest.raises(InvalidInputError, match="different bodies"):
        check_one_body(rows, expected=b)
    with pytest.raises(InvalidInputError, match="unrecorded"):
        check_one_body(rows + [{"extra": {}}])
