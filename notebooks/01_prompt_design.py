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
# # 01 · Designing the caption prompt
#
# The captions are only as good as the prompt that asks for them. The method's template has four
# slots:
#
# * **class name** — the caption is written *knowing* the class, so it can describe what sets the class
#   apart (the class name is cleaned: lower case, `_` and `-` become spaces);
# * **domain** — *"glyph signs"*, *"flowers"*, *"satellite"*: what kind of photo this is and what the
#   other classes look like;
# * **characteristic** — what to look at: *visual* (everything salient), *shape*, *texture*, or any word
#   (*color*, *petals*, *symbols* …); the paper writes one caption per characteristic;
# * **word budget** — about 50 words; CLIP's text encoder reads at most 77 tokens (the embedded one
#   fewer), so longer captions lose their end.
#
# Here you edit these slots and watch, side by side on sample images, what the captioner writes, how
# long it takes and how long the captions are; each prompt you try is also **scored** (below) and ranked
# on a leaderboard; then compare characteristics and save the template for `02_synthetic_captions`.
#
# **The prompt score** answers "which prompt is better?" in seconds, without fine-tuning: caption `shots`
# training images per class with the prompt, build MMFT's class-average caption prototypes on the
# *unchanged* start CLIP (MMFT's inference rule at WiSE-FT α = 0) and classify the validation images with
# them; repeat for `draws` few-shot draws and report the mean accuracy ± its standard error. How well it
# predicts fine-tuned MMFT accuracy is measured in `benchmarks/results/prompt_score.md` (on the embedded
# world: Spearman ρ 0.82 on critters, but 0.09 and 0.33 on glyphs and tiles, where fine-tuned MMFT itself
# is near chance at 4 shots and the prompts differ by less than the seed noise).
#
# **What the embedded captioner can and cannot do.** It is a one-million-parameter LLaVA trained in
# about 25 minutes on the world's images, from captions written the way Qwen and Gemini answer this
# prompt (measured on the 39,480 captions the MMFT authors ship: two or three capitalised sentences, the
# class name in the first, the background now and then, a hedge now and then). Its captions fall inside
# the real bands for 93 % of the statistics of visual captions, all of shape and 88 % of texture captions
# (`benchmarks/results/caption_realism.md`, beside the real figures). So it *follows the prompt*: the
# word budget sets the length (about 4, 17, 27, 43, 78 and 111 words for 5, 20, 30, 50, 80 and 120), it
# writes about any characteristic of the library (visual, shape, texture, context, spatial, color,
# symbols; petals only half the time) and a general caption for any other word, and it copies the class
# name and domain you give, even a wrong name: it does not recognise the class, it repeats what the
# prompt says, so a wrong name changes the caption. A template without some slots still gets an answer
# (about 45 words without `{words}`; only the category without `{class_name}`). Like a real captioner it
# errs now and then, at documented rates: a misread attribute in about one caption in twenty, a hedge
# ("is likely") on images that are hard to read, a detail that is not there on cluttered ones, the class
# name left out on one image in sixteen. It *cannot* read a word outside its vocabulary of about 1,300
# words: an unknown class name is left out (the caption names the category), an unknown word elsewhere in
# the template is ignored; it sees only the world's attributes on 32×32 images (it names a wrong fill in
# 11–32 % of its captions, a wrong shape in 3–6 %); it repeats a sentence now and then and its texture
# captions resemble one another more than real ones do. A real captioner
# (`captioner = "Qwen/Qwen2.5-VL-3B-Instruct"` or `"openai:MODEL"`) reads any prompt.

# %% tags=["parameters"]
# Change a parameter by assigning it here, for example:  words = 30
# (papermill and `mmft_kit batch` inject theirs after this cell). The next cell lists every parameter with its
# value and meaning; each is declared once, with its default and range, in mmft_kit/notebook/params.py
# (PromptDesign).

# %% [markdown]
# Opened in JupyterLab, this notebook shows live ipywidgets controls; run by papermill or `mmft_kit batch`
# it draws static figures and tables instead (`interactive = True` or `False` in the parameters cell
# decides for itself). Either way every figure is saved to `output_dir`.

# %%
from mmft_kit.notebook import start_notebook

nb = start_notebook("01_prompt_design", globals())
p = nb.params

# %% [markdown]
# ## The template
#
# The kit keeps templates and characteristics as data (`mmft_kit/captions/templates.json`); a template
# is a string with the placeholders `{class_name}`, `{domain}`, `{characteristic}` and `{words}`.

# %%
from mmft_kit import viz, widgets
from mmft_kit.captions import build_prompt, load_library, resolve_template
from mmft_kit.models import load_captioner
from mmft_kit.captions.preview import caption_preview
from mmft_kit.data import get_dataset

train = get_dataset(p.dataset, root=p.root)
chosen_template = resolve_template(p.template)
print("template:", chosen_template)
print("characteristics in the library:", ", ".join(load_library().characteristics))
print("for example:", build_prompt(p.class_name or train.classnames[0], p.domain or train.domain, p.characteristic,
                                   p.words, p.template))
vlm = load_captioner(p.captioner)

# %% [markdown]
# The prompt score's settings (`shots`, `draws`, `clip` and the caption settings above) and the leaderboard of
# every prompt scored in this notebook.

# %%
from mmft_kit.params.prompts import PromptScoreParams
from mmft_kit.train.prompt_score import LEADERBOARD_COLUMNS, Leaderboard, score_prompt

score_params = PromptScoreParams.take(p)
leaderboard = Leaderboard()
chance = 1 / len(train.classnames)

# %% [markdown]
# ## Preview
#
# Each image with the caption written for it, its length in words and the time it took. In JupyterLab
# the controls below re-caption the samples after every change (pick any data set of the registry,
# type a template, try another class name or domain), score the edited prompt and show the
# **leaderboard** of every prompt tried so far: score ± s.e. (validation accuracy of the caption
# prototypes on the frozen CLIP), words per caption, seconds per caption and per score. A template that
# leaves out a slot (say `{class_name}`) is scored with a notice; an unknown placeholder is refused with
# the fix.

# %%
if nb.live:
    designer = widgets.prompt_designer(vlm, p, save_to=nb.path("template.txt"), leaderboard=leaderboard,
                                       score_params=score_params)
    display(designer)
    preview = designer.result
else:
    preview = caption_preview(train, vlm, [p.characteristic], samples=p.samples, seed=p.seed, words=p.words,
                              template=p.template, domain=p.domain, class_name=p.class_name)
    print("prompt of the first image:", preview.prompt)
nb.show(viz.preview_figure(preview), "preview", display=not nb.live)
if not nb.live:  # the live designer shows its own table
    display(viz.table(preview.summary))

# %% [markdown]
# ## Leaderboard
#
# The prompts scored so far, best first (run by papermill: the parameters' template and characteristic).
# A papermill grid over templates ranks many prompts, one notebook run each, with their scores gathered in
# the batch's table (`score`, `score_se`):
#
# ```bash
# python -m mmft_kit batch notebooks/01_prompt_design.ipynb --name prompt-grid \
#     -g template differentiate "Describe the {characteristic} details of this {class_name} in {words} words."
# ```
#
# `python -m mmft_kit prompts rank` does the same without notebooks (templates × characteristic sets,
# resumable, CSV + Markdown).

# %%
if not nb.live:
    leaderboard.add(score_prompt(score_params, captioner=vlm, template=p.template, characteristics=[p.characteristic]))
viz.table(leaderboard.rows(), LEADERBOARD_COLUMNS)

# %% [markdown]
# ## Compare characteristics
#
# One row per characteristic, the same images in every row. The table counts how often captions name
# the class and how often they use words of *their own* characteristic (shape words in shape captions,
# pattern words in texture captions): a good prompt keeps each caption on its topic.

# %%
comparison = caption_preview(train, vlm, p.characteristics, samples=p.samples, seed=p.seed, words=p.words,
                             template=p.template, domain=p.domain, class_name=p.class_name)
nb.show(viz.preview_figure(comparison), "characteristics")
viz.table(comparison.summary)

# %% [markdown]
# ### Which characteristic gives the better classifier?
#
# The paper's comparison: the prompt score of each characteristic alone and of all of them together (one
# caption per characteristic, averaged in the prototypes), with the template above. The captions of the
# single characteristics are the ones the combined score uses, so it costs no extra captioning.

# %%
characteristic_sets = [[c] for c in p.characteristics] + ([p.characteristics] if len(p.characteristics) > 1 else [])
scores = [score_prompt(score_params, captioner=vlm, template=p.template, characteristics=chosen)
          for chosen in characteristic_sets]
for score in scores:
    leaderboard.add(score)
characteristic_scores = [score.row() for score in scores]
nb.show(viz.prompt_score_bars(characteristic_scores, chance=chance,
                              title=f"{p.dataset}, {p.shots}-shot, {p.draws} draws: prompt score by characteristic"),
        "characteristic_scores")
viz.table(characteristic_scores, ["characteristics", "score", "se", "mean_words", "characteristic_word_rate",
                                  "seconds_per_caption", "truncated", "notices"])

# %% [markdown]
# ## Save the template for the next notebook
#
# The template is written to `template.txt` in the output folder (with the live controls, the
# *save template* button writes the edited one there). Give that path as `template` to
# `02_synthetic_captions`, to `python -m mmft_kit caption --template`, or to `TrainConfig(template=...)`.

# %%
from mmft_kit.io import atomic_write_text

template_file = nb.path("template.txt")
atomic_write_text(template_file, chosen_template + "\n")
print(f"saved; next: 02_synthetic_captions with template = {str(template_file)!r}")

# %%
from mmft_kit.report import group_metrics

nb.finish(group_metrics(comparison.summary, "characteristic", ["mean_words", "seconds_per_caption", "class_name_rate"],
                        ["mean_words", "characteristic_word_rate"]), samples=p.samples,
          score=characteristic_scores[-1]["score"], score_se=characteristic_scores[-1]["se"],
          details={"template": chosen_template, "preview": preview.summary, "comparison": comparison.summary,
                   "characteristic_scores": characteristic_scores, "leaderboard": leaderboard.rows()})
