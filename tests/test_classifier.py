"""Saved classifiers: a run's classifier reloads (open_clip local-dir and the kit) and predicts as in memory;
``predict`` on a folder with a corrupt file; OOD evaluation with WiSE-FT curves; the run's split file."""

from __future__ import annotations

import csv
import json

import open_clip
import pytest
import torch

import mmft_kit
from mmft_kit.__main__ import main
from mmft_kit.classifier import CLASSIFIER_FILE, save_classifier
from mmft_kit.data import get_dataset, shifted_variants
from mmft_kit.data.few_shot import read_split, split_indices
from mmft_kit.errors import InvalidInputError
from mmft_kit.models import load_clip
from mmft_kit.train import TrainConfig, run
from mmft_kit.train.run import CLASSIFIER_DIR, SPLIT_NAME

CI_MODEL = "embedded:ci"


@pytest.fixture(scope="module")
def flyp_run(tmp_path_factory):
    """A 2-epoch FLYP run on critters with shifted sets, the WiSE-FT curves, a saved classifier, and every
    one of the authors' baseline options switched on (80 random templates, open_clip augmentation, no clamp,
    no full stop)."""
    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(method="flyp", dataset="critters", shots=4, clip=CI_MODEL, epochs=2, lr=1e-4,
                         progress=False, output_dir=str(out), save_classifier=True, wise_ft=True,
                         eval_sets=("critters-noise", "critters-outline"), flyp_templates="random80",
                         train_augment=True, clamp_logit_scale=False, prompt_full_stop=False)
    return run(config), out


@pytest.mark.slow
def test_saved_run_reloads_and_predicts_like_the_in_memory_model(flyp_run):
    result, out = flyp_run
    folder = out / CLASSIFIER_DIR
    classifier = mmft_kit.load_classifier(folder)
    test = get_dataset("critters", split="test")
    images = [test.image(i) for i in range(48)]
    memory = torch.stack([result.preprocess(im) for im in images])
    with torch.no_grad():
        features = torch.nn.functional.normalize(result.model.encode_image(memory).float(), dim=-1)
    expected = [result.data.classnames[i] for i in result.head.logits(features).argmax(1).tolist()]
    assert classifier.predict(images) == expected
    assert classifier.predict(memory) == expected  # preprocessed tensors too
    assert json.loads((folder / CLASSIFIER_FILE).read_text())["rule"] == "cosine"
    # the folder is a plain open_clip model as well
    model, _, _ = open_clip.create_model_and_transforms("local-dir:" + str(folder))
    for key, value in result.model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value.cpu()), key
    assert load_clip(str(folder))[0].visual.conv1.weight.shape == model.visual.conv1.weight.shape


@pytest.mark.slow
def test_ood_evaluation_reports_shifted_accuracy_and_wise_ft_curves(flyp_run):
    result, _ = flyp_run
    shifted = {"critters-noise", "critters-outline"}
    assert shifted <= set(shifted_variants("critters"))
    assert set(result.extra["eval"]) == shifted == set(result.extra["wise_ft_eval"])
    for name, curve in result.extra["wise_ft_eval"].items():
        assert [a for a, _ in curve] == [a for a, _ in result.extra["wise_ft"]]
        assert curve[-1][1] == pytest.approx(result.extra["eval"][name])  # α = 1 is the fine-tuned model
    assert result.extra["wise_ft"][-1][1] == pytest.approx(result.test)
    assert json.loads((flyp_run[1] / "results.json").read_text())["extra"]["eval"] == result.extra["eval"]


@pytest.mark.slow
def test_run_split_file_reads_back_to_the_same_indices(flyp_run):
    result, out = flyp_run
    split = read_split(out / SPLIT_NAME)
    assert split_indices(split, "train") == result.data.train_indices
    assert split_indices(split, "test") == list(range(len(result.data.test)))
    assert [label for _, label, _ in split["train"]] == result.data.few_shot.targets
    assert {name for _, _, name in split["train"]} == set(result.data.classnames)
    assert (split["dataset"], split["shots"], split["seed"]) == ("critters", 4, result.seed)


@pytest.mark.slow
def test_predict_writes_a_row_per_good_image_and_lists_the_bad_one(flyp_run, tmp_path, capsys):
    _, out = flyp_run
    images = tmp_path / "images" / "nested"
    images.mkdir(parents=True)
    test = get_dataset("critters", split="test")
    for i in range(5):
        test.image(i).save(images / f"img{i}.png")
    (images / "broken.png").write_bytes(b"not a png at all")
    csv_path = tmp_path / "pred.csv"
    status = main(["predict", "--model", str(out), "--images", str(tmp_path / "images"), "--out", str(csv_path),
                   "--batch-size", "2", "--quiet"])
    assert status == 1
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 5 and all("broken" not in r["path"] for r in rows)
    classifier = mmft_kit.load_classifier(out / CLASSIFIER_DIR)
    assert [r["prediction"] for r in rows] == classifier.predict([test.image(i) for i in range(5)])
    probabilities = [float(r[f"p{k}"]) for r in rows for k in range(1, 6)]
    assert all(0 <= p <= 1 for p in probabilities) and all(r["top1"] == r["prediction"] for r in rows)
    assert "broken.png" in capsys.readouterr().err


def test_predict_zero_shot_with_any_clip_needs_classnames(tmp_path, capsys):
    test = get_dataset("badges", split="test")
    test.image(0).save(tmp_path / "a.png")
    assert main(["predict", "--model", CI_MODEL, "--images", str(tmp_path / "a.png"), "--quiet"]) == 2
    assert "--classnames" in capsys.readouterr().err
    assert main(["predict", "--model", CI_MODEL, "--images", str(tmp_path / "a.png"), "--quiet",
                 "--classnames", *test.classnames, "--top", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "path,prediction,top1,p1,top2,p2,top3,p3" and len(lines) == 2


def test_save_classifier_rejects_a_head_of_another_size(tmp_path):
    from mmft_kit.baselines import CosineHead

    model, _, _ = load_clip(CI_MODEL)
    with pytest.raises(InvalidInputError, match="2 classes but 3"):
        save_classifier(tmp_path / "c", model, CosineHead(torch.eye(2, 64)), ["a", "b", "c"], {})


@pytest.mark.slow
def test_saving_at_a_wise_ft_alpha_saves_the_interpolated_weights_and_head(flyp_run, tmp_path):
    from dataclasses import replace

    from mmft_kit.inference import prompt_head
    from mmft_kit.train.run import save_classifier_of
    from mmft_kit.train.setup import load_start_model

    result, _ = flyp_run
    start, _, tokenizer = load_start_model(CI_MODEL)
    config = {**result.config, "output_dir": str(tmp_path), "save_wise_ft_alpha": 0.0}
    folder = save_classifier_of(replace(result, config=config), start.state_dict())
    saved = mmft_kit.load_classifier(folder)
    assert saved.wise_ft_alpha == 0.0
    for key, value in start.state_dict().items():
        assert torch.equal(saved.model.state_dict()[key].cpu(), value.cpu()), key
    expected = prompt_head(start, tokenizer, result.data.classnames, ("a photo of a {}",))  # no full stop
    assert torch.allclose(saved.head.weight, expected, atol=1e-5)
    # the in-memory model keeps its fine-tuned weights
    assert not torch.equal(result.model.visual.conv1.weight.cpu(), start.visual.conv1.weight.cpu())
