"""The trainer: every method end to end on the small embedded CLIP, best-state keeping, resuming,
provenance, errors, the digits hold-out and determinism."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from mmft_kit.captions import CaptionStore, MissingCaptionsError, caption_dataset
from mmft_kit.data import get_dataset, split_hash
from mmft_kit.errors import InvalidInputError
from mmft_kit.inference import caption_prototype_head, prompt_head
from mmft_kit.records import RunResult as RunRecord
from mmft_kit.methods import METHODS, methods_of
from mmft_kit.train import TrainConfig, ZeroShotInitClassifier, fine_tune, load_run_data, run
from mmft_kit.train.setup import load_start_model
from mmft_kit.text import clean_classname

CI_MODEL = "embedded:ci"


@pytest.fixture(scope="module")
def store(tmp_path_factory, make_captioner):
    """Captions of every glyphs train image (3 per image, each its own text) made by the fake captioner."""
    path = tmp_path_factory.mktemp("captions") / "glyphs.jsonl"
    caption_dataset(get_dataset("glyphs"), make_captioner(), path, progress=False)
    return path


def config(store, method="mmft", **changes) -> TrainConfig:
    settings = dict(method=method, dataset="glyphs", shots=2, seed=0, clip=CI_MODEL, captioner="fake",
                    caption_store=str(store), epochs=1, lr=1e-4, batch_size=8, progress=False)
    return TrainConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def results(store):
    return {method: run(config(store, method)) for method in methods_of("clip")}


def test_every_method_runs_and_reports_accuracies(results, store):
    zero_shot = {r.extra["zeroshot"] for r in results.values()}
    assert len(zero_shot) == 1  # the same start model for every method
    for method, result in results.items():
        assert result.method == method and result.seed == 0 and result.metric == "accuracy"
        assert 0.0 <= result.test <= 1.0 and 0.0 <= result.val <= 1.0 and result.seconds > 0
        assert len(result.history) == (0 if method == "zeroshot" else 1)
        assert result.best_epoch == (0 if method == "zeroshot" else 1)
        assert result.train_config == config(store, method)
    assert results["zeroshot"].test == results["zeroshot"].extra["zeroshot"]


def test_the_schedule_is_cosine_per_step_to_zero_without_warm_up_by_default():
    _, fit = _tiny_fit(None, weight_decay=0.5)
    lrs = [r.lr for r in fit.history]  # 3 steps per epoch, 4 epochs: cosine from 0.1 to 0, no warm-up
    assert lrs == pytest.approx([0.1 * 0.5 * (1 + math.cos(math.pi * 3 * e / 12)) for e in range(1, 5)], abs=1e-9)
    warm = _tiny_fit(None, schedule="linear", warmup_steps=3)[1]
    assert warm.history[0].lr == pytest.approx(0.1) and warm.history[-1].lr == pytest.approx(0.0)


def test_mmft_classifies_with_caption_prototypes(results, store):
    result = results["mmft"]
    classnames = result.data.classnames
    captions = {r["caption"] for r in CaptionStore(store).records()}
    for name, texts in zip(classnames, result.texts_by_class):
        assert len(texts) == 2 * 3  # two shots, three characteristics each
        assert all(t.startswith(f"a photo of a {clean_classname(name)}. ") and t.split(". ", 1)[1] in captions for t in texts)
    expected = caption_prototype_head(result.model, result.tokenizer, classnames, result.texts_by_class,
                                      class_prefix=False)
    assert torch.allclose(result.head.weight, expected, atol=1e-6)
    assert not torch.allclose(result.head.weight, prompt_head(result.model, result.tokenizer, classnames), atol=1e-3)


def test_flyp_heads_and_ce_head(results):
    flyp, ens, ce = results["flyp"], results["flyp_ens"], results["ce"]
    assert torch.allclose(flyp.head.weight, prompt_head(flyp.model, flyp.tokenizer, flyp.data.classnames), atol=1e-6)
    assert ens.head.weight.shape == flyp.head.weight.shape
    assert isinstance(ce.model, ZeroShotInitClassifier)
    assert torch.equal(ce.head.weight, ce.model.head.weight.detach().cpu())
    # ce trains the image tower only: the text tower keeps the start weights
    start, _, _ = load_start_model(CI_MODEL)
    assert torch.equal(ce.model.clip.token_embedding.weight.cpu(), start.token_embedding.weight)
    assert not torch.equal(ce.model.clip.visual.conv1.weight.cpu(), start.visual.conv1.weight)


def test_ce_head_starts_as_the_zero_shot_classifier():
    clip, _, tokenizer = load_start_model(CI_MODEL)
    classnames = ["vorn", "talis", "brekka"]
    classifier = ZeroShotInitClassifier(clip, prompt_head(clip, tokenizer, classnames), clip.logit_scale.exp().item())
    images = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        zero_shot = clip.logit_scale.exp() * F.normalize(clip.encode_image(images), dim=-1) @ \
            prompt_head(clip, tokenizer, classnames).T
        assert torch.allclose(classifier(images), zero_shot, atol=1e-4)


class _Tiny(Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        return torch.full((2,), float(i)), "text", i % 3


def _tiny_fit(evaluate, **kwargs):
    torch.manual_seed(0)
    model = nn.Linear(2, 3)
    loss = lambda m, x, texts, y: F.cross_entropy(m(x), y)
    return model, fine_tune(model, _Tiny(), loss, evaluate,
                            TrainConfig(epochs=4, lr=0.1, batch_size=4, seed=3, progress=False, **kwargs))


def test_the_best_validation_state_is_kept():
    scripted, seen = iter([0.2, 0.7, 0.5, 0.7]), []

    def evaluate(model):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scripted)

    model, fit = _tiny_fit(evaluate)
    assert [r.val for r in fit.history] == [0.2, 0.7, 0.5, 0.7]
    assert fit.best_epoch == 2 and fit.best_val == 0.7  # the first of equal bests
    for key, value in model.state_dict().items():
        assert torch.equal(value, seen[1][key]) and not torch.equal(value, seen[3][key])


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    def evaluate_then_stop(model):
        if evaluate_then_stop.calls == 2:
            raise KeyboardInterrupt
        evaluate_then_stop.calls += 1
        return float(model.bias.detach().sum())
    evaluate_then_stop.calls = 0

    with pytest.raises(KeyboardInterrupt):
        _tiny_fit(evaluate_then_stop, output_dir=str(tmp_path))
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "best_model.pt").is_file()
    resumed_model, resumed = _tiny_fit(lambda m: float(m.bias.detach().sum()), output_dir=str(tmp_path))
    whole_model, whole = _tiny_fit(lambda m: float(m.bias.detach().sum()))
    assert [r.epoch for r in resumed.history] == [1, 2, 3, 4]
    assert [r.loss for r in resumed.history] == pytest.approx([r.loss for r in whole.history], abs=1e-6)
    for key, value in whole_model.state_dict().items():
        assert torch.allclose(resumed_model.state_dict()[key], value, atol=1e-6)
    with pytest.raises(InvalidInputError, match="other settings"):
        fine_tune(nn.Linear(2, 3), _Tiny(), lambda m, x, t, y: m(x).sum(), None,
                  TrainConfig(epochs=5, output_dir=str(tmp_path), progress=False))


def test_provenance_is_saved_beside_the_results(store, tmp_path):
    result = run(config(store, "mmft", output_dir=str(tmp_path)))
    record = json.loads((tmp_path / "provenance.json").read_text())
    assert record["config"]["method"] == "mmft" and record["config"]["lr"] == 1e-4
    assert record["versions"]["torch"] == torch.__version__.split("+")[0]
    split = record["split"]
    assert split["size"] == 2 * 8 and split["per_class"] == [2] * 8
    assert split["hash"] == split_hash(split["indices"]) == split_hash(result.data.train_indices)
    assert record["caption_store"]["settings"] == CaptionStore(store).settings
    assert record["caption_store"]["characteristics"] == ["visual", "shape", "texture"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["test"] == result.test and len(saved["history"]) == 1 and saved["config"]["clip"] == CI_MODEL
    assert RunRecord.from_dict(saved) == result.record()
    again = run(config(store, "mmft", output_dir=str(tmp_path)))  # finds the finished checkpoint: no training
    assert again.history == result.history and again.test == result.test


def test_unknown_method_lists_the_methods():
    with pytest.raises(InvalidInputError) as error:
        TrainConfig(method="lp-ft")
    assert all(name in str(error.value) for name in METHODS)


def test_config_ranges_come_from_the_shared_declaration():
    with pytest.raises(InvalidInputError) as error:
        TrainConfig(lr=0, epochs=0, w=2, weigth_decay=0.1)
    message = str(error.value)
    assert "lr = 0: Input should be greater than 0" in message and "epochs = 0" in message and "w = 2" in message
    assert "weigth_decay: unknown; did you mean 'weight_decay'?" in message
    assert TrainConfig(shots="2", seed="3", root=None).shots == 2


def test_missing_captions_name_the_command(tmp_path):
    with pytest.raises(MissingCaptionsError, match=r"python -m mmft_kit caption --dataset glyphs"):
        run(config(tmp_path / "none.jsonl", "mmft"))


def test_digits_hold_out_ten_percent_of_train_for_validation():
    data = load_run_data(TrainConfig(method="flyp", dataset="digits", shots=4, seed=1))
    train = get_dataset("digits", split="train")
    assert len(data.val) + len(data.pool) == len(train)
    assert len(data.val) == pytest.approx(0.1 * len(train), abs=10)
    assert set(data.val.indices).isdisjoint(data.pool.indices)
    assert set(data.train_indices) <= set(data.pool.indices) and len(data.train_indices) == 40
    assert "10%" in data.val_source


def test_same_seed_same_result(store):
    first, second = (run(config(store, "mmft", epochs=2)) for _ in range(2))
    assert first.test == second.test and first.val == second.val
    assert [r.loss for r in first.history] == [r.loss for r in second.history]
    other = run(config(store, "mmft", epochs=2, seed=1))
    assert other.data.train_indices != first.data.train_indices


def test_wise_ft_curve_runs_from_zero_shot_to_fine_tuned(store):
    result = run(config(store, "flyp", epochs=2, lr=1e-3, wise_ft=True))
    curve = result.extra["wise_ft"]
    assert [alpha for alpha, _ in curve] == pytest.approx([i / 10 for i in range(11)])
    assert curve[0][1] == result.extra["zeroshot"]  # α = 0: the start model, single-prompt head
    assert curve[-1][1] == result.test  # α = 1: the kept fine-tuned weights


def test_texts_tokenised_once_up_front_yield_the_drawn_captions_tokens():
    from mmft_kit.captions import CaptionedDataset
    from mmft_kit.train.data import TokenizedTexts

    calls = []

    def tokenizer(texts):
        calls.append(len(texts))
        return torch.tensor([[len(t), ord(t[-1])] for t in texts])

    images = get_dataset("glyphs")
    subset = torch.utils.data.Subset(images, range(4))
    captioned = CaptionedDataset(subset, [["a", "bb", "ccc"]] * 4, seed=0, add_class_prefix=False)
    tokenized = TokenizedTexts(captioned, captioned.all_texts(), tokenizer)
    assert calls == [3]  # three distinct texts, one call
    for epoch in (1, 2):
        tokenized.set_epoch(epoch)
        for index in range(4):
            _, text, label = captioned[index]
            _, tokens, tokenized_label = tokenized[index]
            assert tokens.tolist() == [len(text), ord(text[-1])] and tokenized_label == label
    with pytest.raises(InvalidInputError, match="tokenised up front"):
        TokenizedTexts(captioned, ["a"], tokenizer)[next(i for i in range(4) if captioned[i][1] != "a")]
