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
# # 03 · Few-shot fine-tuning: every method
#
# One trainer, five methods; they share the data, the start model, the optimiser (AdamW, cosine
# schedule, best validation epoch kept) and differ only in the text they train on and the head they
# classify with:
#
# | method | trains on | classifies with |
# |---|---|---|
# | `zeroshot` | nothing | *"a photo of a {class}."* |
# | `flyp` | (image, *"a photo of a {class}."*), CLIP loss | the same prompt |
# | `flyp_ens` | as `flyp` | the mean of CLIP's 80 prompt templates |
# | `ce` | image tower + linear head (started from the prompt head), cross-entropy | the linear head |
# | `mmft` | (image, synthetic caption), CLIP loss + supervised contrastive loss | caption prototypes |
#
# The frozen-feature baselines (`linear_probe`, `tip_adapter`, `tip_adapter_f`, `lp_pp`; see
# `mmft_kit.methods.METHODS`) run too: they fit a head on the start model's image features, take seconds, and
# are often the ones to beat (`methods` in the parameters cell picks a subset). They are set as their authors set them
# (Tip-Adapter's zero-shot term at scale 100 and a search range that grows as zero-shot weakens; LP++'s
# blend started from the true-class text logits). The embedded world was calibrated on these baselines
# alone, on half of its tasks, against the published few-shot figures of real CLIP
# (`benchmarks/results/calibration.md` says which targets it meets on the other half and which it
# misses), so read a method's rank here against that report before reading it as a claim about real data.
# The default world is in the *known names* regime (the CLIP knows most class names, zero-shot from 15 to
# 90 % per task), where a method must beat a strong zero-shot head from the first shot; the `unknown-names`
# CLIP (`clip = "embedded:unknown-names"`, built into the cache on first use) is the near-chance regime,
# where any trained head wins. `benchmarks/results/few_shot.md` and `few_shot_unknown_names/few_shot.md`
# give every method's accuracy in both, over all data sets and three seeds, with MMFT's rank (8th, 7th and
# 5th of 9 at 1 / 4 / 16 shots in the default world; 1st, 3rd and 3rd with unknown names; why: README),
# measured on the current world (CLIP `2530bf7b8a18`) after it was frozen. This notebook runs them at one
# number of shots over several seeds and shows the learning curves, an accuracy table, accuracy under
# distribution shift with the WiSE-FT curve, and a confusion matrix. Captions missing from the store are made
# first (see `02_synthetic_captions`).

# %% tags=["parameters"]
# Change a parameter by assigning it here, for example:  methods = ["flyp", "mmft"]
# (papermill and `mmft_kit batch` inject theirs after this cell). The next cell lists every parameter with its
# value and meaning; each is declared once, with its default and range, in mmft_kit/notebook/params.py
# (FewShotFinetuning).

# %% [markdown]
# Opened in JupyterLab, this notebook shows live ipywidgets controls; run by papermill or `mmft_kit batch`
# it draws static figures and tables instead (`interactive = True` or `False` in the parameters cell
# decides for itself). Either way every figure is saved to `output_dir`.

# %%
from mmft_kit.notebook import start_notebook

nb = start_notebook("03_few_shot_finetuning", globals())
p = nb.params

# %% [markdown]
# ## Train
#
# Each run validates after every epoch and keeps the weights of the best validation epoch; the test
# set is touched once, at the end.

# %%
from mmft_kit import viz, widgets
from mmft_kit.notebook.runs import first_seed, histories, run_methods, wise_ft_traced

results = run_methods(p)
runs = first_seed(results)

# %% [markdown]
# ## Learning curves
#
# Training loss and validation accuracy per epoch. The losses of different methods are not
# comparable with each other (different texts, different terms); their shapes are.

# %%
nb.show(viz.learning_curves(histories(results)), "learning_curves")

# %% [markdown]
# ## Accuracy
#
# Mean and standard error over seeds; with one seed the spread is not measured and reads n/a: run
# more seeds (or a batch grid over `seeds`) before reading small differences. The best method is the one
# with the highest mean test accuracy among those that ran.

# %%
from mmft_kit.report import aggregate, run_metrics, run_records
from mmft_kit.sweep import results_table

rows = results_table(results)
metrics = run_metrics(results)
best_method = metrics["best_method"]
nb.show(viz.accuracy_figure(rows, key="test", reference=metrics.get("zeroshot_accuracy"), dataset=p.dataset,
                            shots=p.shots), "accuracy")
print(f"best mean test accuracy: {best_method} ({metrics['test.' + best_method]:.3f})")
viz.table(aggregate(rows, "method", ["test", "val"]))

# %% [markdown]
# ## Confusion matrix
#
# Rows are the true classes, columns the predicted ones (each row sums to 1): which classes does the
# best method (the highest mean test accuracy) still mix up? With the live controls, pick any method; they
# open on the best one.

# %%
from mmft_kit.train.inspect import predictions

classnames = results[0].data.classnames

def confusion(method):
    named = f"{method} (best mean test accuracy)" if method == best_method else method
    return viz.confusion_figure(*predictions(runs[method]), classnames, f"{named}, seed {runs[method].seed}")

if nb.live:
    display(widgets.choice_preview(p.methods, confusion, "method", value=best_method))
nb.show(confusion(best_method), "confusion", display=not nb.live)

# %% [markdown]
# ## Under distribution shift
#
# Every run is also tested on its data set's shifted variants: the same classes with another
# background, noise or outline (`mmft_kit.data.shifted_variants`; data sets without variants skip this
# section). Fine-tuning tends to buy in-distribution accuracy with some of the start model's
# robustness. WiSE-FT (Wortsman et al., 2022) mixes the weights, α·fine-tuned + (1 − α)·start: read the
# right panel for the α that keeps most of both.

# %%
from mmft_kit.report import shift_summary

shift = shift_summary(results)
traced = wise_ft_traced(results)

def wise_ft(method):
    r = runs[method]
    return viz.wise_ft_shift_figure(r.extra["wise_ft"], r.extra.get("wise_ft_eval", {}),
                                    f"WiSE-FT: {method}, {p.dataset}, {p.shots}-shot, seed {r.seed}")

if shift:
    nb.show(viz.shift_bars(shift, dataset=p.dataset, shots=p.shots, seeds=p.seeds), "shift")
if traced and nb.live:
    display(widgets.choice_preview(traced, wise_ft, "method"))
if traced:
    nb.show(wise_ft(max(traced, key=lambda m: runs[m].test)), "wise_ft", display=not nb.live)

# %%
nb.finish(metrics, classes=len(classnames), shots=p.shots, details={"runs": run_records(results)})
