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
# # 05 · PaRe: cross-modal fine-tuning with patch replacement
#
# A transformer pretrained on images can be fine-tuned on data of *another* modality — spherical
# images, PDE fields, sensor signals, tables — through a new **target embedder** that turns the
# target's inputs into tokens the body understands (it starts as a copy of the pretrained patch
# embedding: *srcinit*). The gap between the two modalities makes this hard at first.
#
# PaRe (Cai et al., ICML 2024) bridges it with **intermediate modalities**: a shared **gate** (one
# linear layer and a sigmoid) scores every patch token; in each training batch the `k` best-scored
# *source* (image) patches replace the `k` worst-scored *target* patches, and the model learns on these
# mixed inputs too:
#
# > loss = L(target) + (1 − λ) · L(mixed, target labels) + λ · CE(mixed, source labels), λ = k / N
#
# `k` shrinks over training (`k = int(begin − end · epoch / epochs)`), so the mixed inputs drift from
# source-like to target-like. In the first epochs the choice is a differentiable Gumbel top-k, so the
# gate learns which patches to swap. Below: plain fine-tuning against PaRe on a target task, the
# patches the gate picks, and λ and the loss over training.

# %% tags=["parameters"]
# Change a parameter by assigning it here, for example:  task = "wdbc"
# (papermill and `mmft_kit batch` inject theirs after this cell). The next cell lists every parameter with its
# value and meaning; each is declared once, with its default and range, in mmft_kit/params/notebooks.py
# (PareCrossModal).

# %% [markdown]
# Opened in JupyterLab, this notebook shows live ipywidgets controls; run by papermill or `mmft_kit batch`
# it draws static figures and tables instead (`interactive = True` or `False` in the parameters cell
# decides for itself). Either way every figure is saved to `output_dir`.

# %%
from mmft_kit.notebook import start_notebook

nb = start_notebook("05_pare_cross_modal", globals())
p = nb.params

# %% [markdown]
# ## The target task and the source images
#
# The source data are labelled world images (the authors use CIFAR-10); they only feed the mixed
# inputs and the source term of the loss.

# %%
from mmft_kit import pare, viz, widgets

target = pare.get_target_task(p.task)
tower = pare.load_body(p.body)
source = pare.world_source(image_size=pare.as_body(tower).image_size[0], seed=p.seeds[0])
print(target)
print(f"source: {len(source)} images, {source.num_classes} classes ({', '.join(source.classnames)})")

# %% [markdown]
# ## Train
#
# `finetune` is the same model and schedule without replacement; `pare` adds the gate, the mixed
# inputs and the λ-weighted loss. The metric is lower-is-better.

# %%
config = pare.TrainConfig(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr)
models, runs = {}, {}
for seed in p.seeds:
    for method in p.methods:
        models[method, seed], runs[method, seed] = pare.fit(target, method, config, body=tower, source=source,
                                                             seed=seed)
        print(f"{method:8s} seed {seed}: test {runs[method, seed].metric} {runs[method, seed].test:.4f}")

# %% [markdown]
# ## λ and the loss over training
#
# λ (left) falls as fewer source patches are mixed in; the Gumbel epochs come first. The training loss
# of `pare` holds the extra mixed and source terms, so it sits above plain fine-tuning's; compare the
# validation metric (right).

# %%
from mmft_kit.tables import aggregate

nb.show(viz.pare_curves({f"{m} (seed {s})": r for (m, s), r in runs.items()}), "training")
rows = [{"method": m, "seed": s, "test": r.test, "val": r.val, "best_epoch": r.best_epoch,
         "seconds": r.runtime_s} for (m, s), r in runs.items()]
summary = aggregate(rows, "method", ["test", "val"])
viz.table(summary)

# %% [markdown]
# ## The gate's choices
#
# Source images (top) with the patches the trained gate would hand over, and target samples (bottom)
# with the slots they would replace, at the first epoch's `k` and at the last one's; the colour wash is
# each patch's gate score. With the live controls, slide `k` and the samples.

# %%
from mmft_kit.pare.inspect import gate_view

if "pare" in p.methods:
    gated, history = models["pare", p.seeds[0]], runs["pare", p.seeds[0]].history
    if nb.live:
        display(widgets.gate_explorer(gated, target, source, history[0].k, p.samples))
    nb.show(viz.gate_figure(gate_view(gated, target, source, history[0].k, p.samples)), "gate_first_epoch",
            display=not nb.live)
    nb.show(viz.gate_figure(gate_view(gated, target, source, history[-1].k, p.samples)), "gate_last_epoch",
            display=not nb.live)
else:
    print("add 'pare' to methods to see the gate")

# %%
first = next(iter(runs.values()))
metrics = {"task": target.name, "metric": first.metric, "tokens": first.num_tokens, "epochs": p.epochs}
for row in summary:
    metrics[f"test.{row['method']}"] = row["test"]
if "pare" in p.methods:
    metrics.update({"k_first": history[0].k, "k_last": history[-1].k, "lambda_first": history[0].lam,
                    "lambda_last": history[-1].lam})
if {"pare", "finetune"} <= set(p.methods):
    metrics["pare_minus_finetune"] = metrics["test.pare"] - metrics["test.finetune"]
nb.finish(metrics, details={"runs": rows})
