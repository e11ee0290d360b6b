# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Synthetic captions for a whole data set
#
# Captioning is the expensive step of the method, and it does not depend on the model being
# fine-tuned, so it is done once, ahead of training, into a **caption store**: one JSONL file whose
# header holds the captioner's settings, the template and the word budget, and whose lines are
# captions keyed by the image's content and the prompt. An interrupted run continues where it stopped;
# a store made with other settings is refused instead of silently mixed.
#
# This notebook captions a data set, lets you browse the captions, and measures them: length,
# vocabulary, how often they name the class and their characteristic's words, and how well each
# caption matches its own image under CLIP (against a caption of another image).

# %% tags=["parameters"]
# Change a parameter by assigning it here, for example:  limit = None
# (papermill and `mmft_kit batch` inject theirs after this cell). The next cell lists every parameter with its
# value and meaning; each is declared once, with its default and range, in mmft_kit/notebook/params.py
# (SyntheticCaptions).

# %% [markdown]
# Opened in JupyterLab, this notebook shows live ipywidgets controls; run by papermill or `mmft_kit batch`
# it draws static figures and tables instead (`interactive = True` or `False` in the parameters cell
# decides for itself). Either way every figure is saved to `output_dir`.

# %%
from mmft_kit.notebook import start_notebook

nb = start_notebook("02_synthetic_captions", globals())
p = nb.params

# %% [markdown]
# ## Caption into the store
#
# Without `caption_store`, captions go to the kit's shared store for this data set and captioner —
# the one `03_few_shot_finetuning` and `python -m mmft_kit caption` use — so nothing is captioned
# twice. With a `template` of your own they go to `captions.jsonl` in the output folder instead (a
# store holds one template); pass that path on as `caption_store`.

# %%
from torch.utils.data import Subset

from mmft_kit import viz, widgets
from mmft_kit.captions import caption_dataset, captions_for_dataset
from mmft_kit.models import load_captioner
from mmft_kit.captions.statistics import caption_records
from mmft_kit.data import get_dataset
from mmft_kit.train import TrainConfig, store_path

train = get_dataset(p.dataset, root=p.root, split="train", domain=p.domain)
images = Subset(train, range(min(p.limit or len(train), len(train))))
store = p.caption_store or (nb.path("captions.jsonl") if p.template else store_path(p.config(TrainConfig)))
report = caption_dataset(images, load_captioner(p.captioner), store, characteristics=p.characteristics,
                         words=p.words, template=p.template)
print(report.summary())
captions = captions_for_dataset(images, store, p.characteristics)
records = caption_records(images, captions, p.characteristics)
print(f"{len(records)} captions of {len(images)} images")

# %% [markdown]
# ## Browse
#
# A few images with their captions, one per characteristic.

# %%
from mmft_kit.captions.preview import sample_indices

shown = sample_indices(images, p.samples, p.seed)
if nb.live:
    display(widgets.caption_browser(images, shown, [dict(zip(p.characteristics, captions[i])) for i in shown]))
texts = ["\n".join(f"[{c}] {text}" for c, text in zip(p.characteristics, captions[i])) for i in shown]
titles = [train.classnames[images[i][1]] for i in shown]
figure = viz.caption_grid([images[i][0] for i in shown], texts, titles=titles, ncols=3, width=46)
nb.show(figure, "browse", display=not nb.live)

# %% [markdown]
# ## Statistics
#
# * **length and vocabulary** — captions near the word budget, with a vocabulary that grows with the
#   data set, carry more than a template sentence;
# * **class name rate** — how often a caption names its class (the training text gets the class
#   prompt as a prefix anyway);
# * **characteristic word rate** — how often a caption uses words of its characteristic;
# * **CLIP score** — cosine similarity between an image and its caption under the start CLIP, against
#   the caption of another image: captions that describe their own image score higher.

# %%
from mmft_kit.captions.statistics import caption_statistics
from mmft_kit.inference import clip_scores
from mmft_kit.models import load_clip

model, preprocess, tokenizer = load_clip(p.clip, p.pretrained)
matched, shuffled = clip_scores(model, preprocess, tokenizer, [images[r.index][0] for r in records],
                                [r.caption for r in records], seed=p.seed)
statistics = caption_statistics(records, matched.tolist())
nb.show(viz.caption_figure(records, statistics, matched, shuffled), "statistics")
viz.table(statistics)

# %%
from mmft_kit.report import group_metrics

nb.finish(group_metrics(statistics, "characteristic", ["mean_words", "vocabulary", "class_name_rate",
                                                       "characteristic_word_rate"],
                        ["mean_words", "characteristic_word_rate", "clip_score"]),
          images=len(images), captions=len(records), captioned_now=report.captioned,
          clip_score=float(matched.mean()), clip_score_shuffled=float(shuffled.mean()),
          details={"store": str(store), "statistics": statistics})
