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
# # 04 · What fine-tuning does to the embedding space
#
# CLIP puts images and texts in one space; a class is recognised when its images lie nearer to its
# own text (or prototype) than to any other. This notebook embeds the test images and the training
# captions with the start model and with each fine-tuned model, and draws them in 2-D:
#
# * dots are test images, triangles training captions, stars the class prototypes (the head each
#   model classifies with), all coloured by class;
# * PCA keeps global distances, t-SNE (and UMAP when `umap-learn` is installed) local neighbourhoods —
#   do not read distances between far-apart clusters in t-SNE;
# * the **silhouette score** (cosine) measures how well the test images of each class are separated
#   from the other classes: −1 to 1, higher is better, comparable before and after.

# %% tags=["parameters"]
# Change a parameter by assigning it here, for example:  projections = ["pca"]
# (papermill and `mmft_kit batch` inject theirs after this cell). The next cell lists every parameter with its
# value and meaning; each is declared once, with its default and range, in mmft_kit/notebook/params.py
# (EmbeddingVisualisation).

# %% [markdown]
# Opened in JupyterLab, this notebook shows live ipywidgets controls; run by papermill or `mmft_kit batch`
# it draws static figures and tables instead (`interactive = True` or `False` in the parameters cell
# decides for itself). Either way every figure is saved to `output_dir`.

# %%
from mmft_kit.notebook import start_notebook

nb = start_notebook("04_embedding_visualisation", globals())
p = nb.params

# %% [markdown]
# ## Fine-tune
#
# One run per method (one seed). `mmft` needs captions: missing ones are made first.

# %%
from mmft_kit import viz, widgets
from mmft_kit.embeddings import available_projections, separation_score
from mmft_kit.train import TrainConfig, run
from mmft_kit.train.inspect import fine_tuning_views

results = {method: run(p.config(TrainConfig, method=method, make_captions=True)) for method in p.methods}
for method, result in results.items():
    print(f"{method}: test accuracy {result.test:.3f}")
views = fine_tuning_views(results)
classnames = next(iter(results.values())).data.classnames
drawn = available_projections(p.projections)
print("projections:", ", ".join(drawn))

# %% [markdown]
# ## Before and after
#
# Left: the start model (`before`). Then one panel per method, after fine-tuning. Images and texts
# often form two separate islands — CLIP's *modality gap*: a text is never as close to an image as
# images are to each other, only closer to its own class's images than to other classes'. Watch the
# captions (triangles) and prototypes (stars): fine-tuning on captions should sort them by class in
# step with the images.

# %%
if nb.live:
    display(widgets.class_picker(views, classnames, drawn, p.seed))
for projection in drawn:
    nb.show(viz.embedding_figure(views, classnames, projection, p.classes, p.seed), f"embeddings_{projection}",
            display=not nb.live)

# %% [markdown]
# ## Class separation
#
# Silhouette of the test images' embeddings by class, before and after fine-tuning, next to the test
# accuracy. A method can raise accuracy by moving the prototypes alone; a rising silhouette means the
# image embeddings themselves became more class-aware.

# %%
accuracy = {"before": next(iter(results.values())).extra["zeroshot"],
            **{method: result.test for method, result in results.items()}}
separation = [{"model": name, "silhouette": separation_score(view.images, view.image_labels),
               "test_accuracy": accuracy[name]} for name, view in views.items()]
nb.show(viz.accuracy_figure(separation, key="silhouette", label="model", value_range=(-1.0, 1.0),
                            dataset=p.dataset, shots=p.shots, seeds=[p.seed]), "separation")
viz.table(separation)

# %%
before = separation[0]["silhouette"]
metrics = {"silhouette.before": before, "zeroshot_accuracy": accuracy["before"]}
for row in separation[1:]:
    metrics[f"silhouette.{row['model']}"] = row["silhouette"]
    metrics[f"silhouette_gain.{row['model']}"] = row["silhouette"] - before
    metrics[f"test_accuracy.{row['model']}"] = row["test_accuracy"]
nb.finish(metrics, details={"projections": drawn, "separation": separation})
