"""Heads and prediction: a fake model with hand-built vectors, and a tiny real open_clip CLIP."""

from __future__ import annotations

import math

import numpy as np

import open_clip
import pytest
import torch
import torch.nn.functional as F
from open_clip.zero_shot_classifier import build_zero_shot_classifier
from torch import nn
from PIL import Image
from torch.utils.data import TensorDataset

from mmft_kit.errors import InvalidInputError
from mmft_kit.inference import (
    ENSEMBLE_TEMPLATES,
    FLYP_TEMPLATES,
    accuracy,
    caption_prototype_head,
    class_logits,
    clip_scores,
    encode_images,
    encode_texts,
    ensemble_head,
    predict,
    prompt_head,
)

R2 = 1 / math.sqrt(2)


class FakeTokenizer:
    """Maps each known text to its row in the fake model's table."""

    def __init__(self, texts):
        self.index = {text: i for i, text in enumerate(texts)}
        self.calls = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        return torch.tensor([[self.index[text]] for text in texts])


class FakeModel(nn.Module):
    """encode_text looks texts up in a table of hand-built, unnormalised vectors; images are their own features."""

    def __init__(self, text_vectors):
        super().__init__()
        self.tokenizer = FakeTokenizer(list(text_vectors))
        self.register_buffer("table", torch.tensor(list(text_vectors.values()), dtype=torch.float32))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.seen_modes = []

    def encode_text(self, tokens):
        self.seen_modes.append((self.training, torch.is_grad_enabled()))
        return self.table[tokens[:, 0]]

    def encode_image(self, images):
        self.seen_modes.append((self.training, torch.is_grad_enabled()))
        return 5 * images


@pytest.fixture
def toy():
    """Three classes; the owl has no captions. The fox's two captions differ in norm on purpose."""
    model = FakeModel(
        {
            "a photo of a red fox. small and orange": [4.0, 0.0, 0.0],
            "a photo of a red fox. bushy tail": [0.0, 1.0, 0.0],
            "a photo of a blue whale. huge": [0.0, 0.0, 2.0],
            "a photo of a owl.": [-3.0, 3.0, 0.0],
            "a photo of a red fox.": [1.0, 0.0, 0.0],
            "a photo of a blue whale.": [0.0, 0.0, 1.0],
        }
    )
    classnames = ["red_fox", "Blue-Whale", "owl"]
    captions = [["small and orange", "bushy tail"], ["huge"], []]
    return model, classnames, captions


def test_caption_prototypes_average_normalised_captions(toy):
    model, classnames, captions = toy
    model.train()
    head = caption_prototype_head(model, model.tokenizer, classnames, captions)
    expected = torch.tensor([[R2, R2, 0.0], [0.0, 0.0, 1.0], [-R2, R2, 0.0]])
    assert torch.allclose(head, expected, atol=1e-6)
    assert model.training  # mode restored
    assert set(model.seen_modes) == {(False, False)}  # encoded in eval mode without autograd


def test_class_without_captions_falls_back_to_its_prompt(toy):
    model, classnames, captions = toy
    head = caption_prototype_head(model, model.tokenizer, classnames, captions)
    assert ["a photo of a owl."] in [[t] for call in model.tokenizer.calls for t in call]
    fallback = encode_texts(model, model.tokenizer, ["a photo of a owl."])
    assert torch.allclose(head[2], fallback[0])


def test_prototype_head_predicts_the_known_labels(toy):
    model, classnames, captions = toy
    head = caption_prototype_head(model, model.tokenizer, classnames, captions)
    images = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.1, 1.0], [-1.0, 1.0, 0.1], [2.0, 0.5, 0.0]])
    labels = torch.tensor([0, 1, 2, 0])
    logits = predict(model, head, TensorDataset(images, labels))
    assert torch.equal(logits.argmax(dim=1), labels)
    assert logits[0, 0].item() == pytest.approx(10.0, rel=1e-6)  # logit_scale 10 · cos 1
    assert accuracy(model, head, TensorDataset(images, labels)) == 1.0
    assert accuracy(model, head, TensorDataset(images, torch.tensor([0, 1, 2, 1]))) == 0.75


def test_prefix_can_be_left_out():
    model = FakeModel({"long ears": [0.0, 2.0], "a photo of a hare.": [1.0, 0.0]})
    head = caption_prototype_head(model, model.tokenizer, ["hare"], [["long ears"]], class_prefix=False)
    assert torch.allclose(head, torch.tensor([[0.0, 1.0]]))


def test_ensemble_of_two_templates_is_the_normalised_mean():
    model = FakeModel(
        {
            "a red fox.": [2.0, 0.0, 0.0],
            "art of the red fox": [0.0, 0.0, 3.0],
            "a owl.": [0.0, 1.0, 0.0],
            "art of the owl": [0.0, 5.0, 5.0],
        }
    )
    templates = ("a {}.", lambda name: f"art of the {name}")
    head = prompt_head(model, model.tokenizer, ["Red_Fox", "owl"], templates)
    owl = torch.tensor([0.0, 1.0, 0.0]) + torch.tensor([0.0, R2, R2])
    expected = torch.stack([torch.tensor([R2, 0.0, R2]), owl / owl.norm()])
    assert torch.allclose(head, expected, atol=1e-6)


def test_template_constants():
    assert FLYP_TEMPLATES == ("a photo of a {}.",)
    assert len(ENSEMBLE_TEMPLATES) == 80
    assert ENSEMBLE_TEMPLATES[0]("dog") == "a bad photo of a dog."


def test_texts_are_batched_without_changing_the_result(toy):
    model, _, _ = toy
    texts = list(model.tokenizer.index)
    whole = encode_texts(model, model.tokenizer, texts)
    model.tokenizer.calls.clear()
    in_pairs = encode_texts(model, model.tokenizer, texts, batch_size=2)
    assert [len(call) for call in model.tokenizer.calls] == [2, 2, 2]
    assert torch.equal(whole, in_pairs)
    assert torch.allclose(whole.norm(dim=1), torch.ones(len(texts)))


def test_encode_images_takes_loaders_with_caption_batches(toy):
    model, _, _ = toy
    images = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]])
    batches = [(images[:1], ("some caption",), torch.tensor([1])), (images[1:], ("another",), torch.tensor([0]))]
    features, labels = encode_images(model, batches)
    assert torch.allclose(features, torch.tensor([[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]))
    assert labels.tolist() == [1, 0]


def test_bad_inputs_raise(toy):
    model, classnames, captions = toy
    with pytest.raises(InvalidInputError, match="one \\(possibly empty\\) list of captions per class"):
        caption_prototype_head(model, model.tokenizer, classnames, captions[:2])
    with pytest.raises(InvalidInputError, match="templates is empty"):
        prompt_head(model, model.tokenizer, classnames, templates=())
    with pytest.raises(InvalidInputError, match="no texts"):
        encode_texts(model, model.tokenizer, [])
    with pytest.raises(InvalidInputError, match="empty"):
        encode_images(model, [])
    with pytest.raises(InvalidInputError, match="dimension 4 but the head 3"):
        class_logits(torch.ones(2, 4), torch.ones(5, 3))


# ---------------------------------------------------------------- a tiny real open_clip CLIP
@pytest.fixture(scope="module")
def tiny_clip():
    torch.manual_seed(0)
    model = open_clip.model.CLIP(
        embed_dim=32,
        vision_cfg=dict(image_size=32, patch_size=8, width=32, layers=1, head_width=16),
        text_cfg=dict(context_length=77, vocab_size=49408, width=32, layers=1, heads=2),
    )
    return model, open_clip.get_tokenizer("ViT-B-32")


def test_tiny_clip_heads_and_prediction_on_cpu(tiny_clip):
    model, tokenizer = tiny_clip
    classnames = ["tabby_cat", "golden-retriever", "goldfish"]
    templates = ("a photo of a {}.", "a drawing of a {}.")

    head = prompt_head(model, tokenizer, classnames, templates, device="cpu")
    assert head.shape == (3, 32)
    cleaned = ["tabby cat", "golden retriever", "goldfish"]
    reference = build_zero_shot_classifier(model.eval(), tokenizer, cleaned, templates, device="cpu").T
    assert torch.allclose(head, reference, atol=1e-5)  # open_clip's own zero-shot recipe

    captions = [["striped fur", "green eyes"], [], ["orange scales in a bowl"]]
    prototypes = caption_prototype_head(model, tokenizer, classnames, captions, device="cpu")
    assert prototypes.shape == (3, 32)
    assert torch.allclose(prototypes.norm(dim=1), torch.ones(3), atol=1e-6)
    fallback = encode_texts(model, tokenizer, ["a photo of a golden retriever."])[0]
    assert torch.allclose(prototypes[1], fallback, atol=1e-6)

    images, labels = torch.rand(5, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1])
    logits = predict(model, prototypes, TensorDataset(images, labels), batch_size=2)
    with torch.no_grad():
        manual = model.logit_scale.exp() * F.normalize(model.encode_image(images), dim=-1) @ prototypes.T
    assert logits.shape == (5, 3)
    assert torch.allclose(logits, manual, atol=1e-4)
    expected_accuracy = (manual.argmax(dim=1) == labels).float().mean().item()
    assert accuracy(model, prototypes, TensorDataset(images, labels)) == pytest.approx(expected_accuracy)


def test_tiny_clip_ensemble_head_has_one_row_per_class(tiny_clip):
    model, tokenizer = tiny_clip
    head = ensemble_head(model, tokenizer, ["cat", "dog"], device="cpu")
    assert head.shape == (2, 32)
    assert torch.allclose(head.norm(dim=1), torch.ones(2), atol=1e-6)


class ColourCLIP(nn.Module):
    """Image features: mean RGB; text features: one-hot of the colour word. Matched pairs agree."""

    def __init__(self):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(0.0))

    def encode_image(self, images):
        return images.mean(dim=(2, 3))

    def encode_text(self, tokens):
        return torch.nn.functional.one_hot(tokens[:, 0], 3).float()


def test_clip_scores_rank_own_captions_above_shuffled_ones():
    colours = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
    images = [Image.new("RGB", (4, 4), rgb) for rgb in colours.values()]

    def tokenizer(texts):
        return torch.tensor([[list(colours).index(t)] for t in texts])

    def preprocess(image):
        return torch.tensor(np.array(image), dtype=torch.float32).permute(2, 0, 1) / 255

    matched, shuffled = clip_scores(ColourCLIP(), preprocess, tokenizer, images, list(colours))
    assert np.allclose(matched, 1.0) and np.allclose(shuffled, 0.0)
