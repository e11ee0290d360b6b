"""PaRe's mechanisms acting (slow: trains on the shipped ci body): the relaxed gate ranks the informative tokens of
a held-out mechanism task, and deterministic selection by that gate spares them."""

from __future__ import annotations

import pytest
import torch

from mmft_kit.pare import MECHANISM, choose_slots, fit, load_body, mechanism_task_of, world_source
from mmft_kit.pare.mechanism import informative_mask

#: A task seed and a run seed the mechanism experiment (notebook 05, benchmarks.pare: seeds 0-4) never used.
HELD_OUT_TASK, HELD_OUT_RUN = 11, 7


@pytest.fixture(scope="module")
def relaxed_run():
    task = mechanism_task_of(seed=HELD_OUT_TASK)
    body = load_body("embedded:ci")
    source = world_source(count=1000, image_size=32, seed=0)
    config = MECHANISM.config("relaxed", seed=HELD_OUT_RUN, progress=False, gumbel_input="logit")
    return task, fit(task, config, body=body, source=source), source


@pytest.mark.slow
def test_relaxed_gate_ranks_informative_tokens_on_a_held_out_task(relaxed_run):
    _, result, _ = relaxed_run
    assert result.history[-1].extra["gate_auroc"] >= 0.7


@pytest.mark.slow
def test_deterministic_selection_by_the_trained_gate_spares_informative_tokens(relaxed_run):
    task, result, source = relaxed_run
    model, informative = result.model.eval(), informative_mask(task)
    k = len(task.extra["informative"])  # uniform slots would hit informative tokens at 4/16 = 0.25
    with torch.no_grad():
        tokens, src_tokens = model.embed(task.x_val), model.embed_source(source.images[: len(task.x_val)])
        keep, _ = choose_slots(model, tokens, src_tokens, k, False, result_config(result))
    replaced = keep < 0.5
    share = float((replaced & informative).sum() / replaced.sum())
    assert share <= 0.15, f"informative share of the replaced slots {share:.3f}"


def result_config(result):
    from mmft_kit.pare import PareConfig

    return PareConfig(**{name: value for name, value in result.config.items() if name in PareConfig.model_fields})
