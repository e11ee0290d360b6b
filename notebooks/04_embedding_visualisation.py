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
from mmft_kit.embeddings import available_projections
from mmft_kit.notebook.runs import first_seed, run_methods
from mmft_kit.train.inspect import fine_tuning_views, separation_rows

results = first_seed(run_methods(p))
views = fine_tuning_views(results)
classnames = results[p.methods[0]].data.classnames
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
separation = separation_rows(views, results)
nb.show(viz.accuracy_figure(separation, key="silhouette", label="model", value_range=(-1.0, 1.0),
                            dataset=p.dataset, shots=p.shots, seeds=[p.seed]), "separation")
viz.table(separation)

# %%
from mmft_kit.report import row_metrics

nb.finish(row_metrics(separation, "model", ["silhouette", "silhouette_gain", "test_accuracy"]),
          zeroshot_accuracy=separation[0]["test_accuracy"], details={"projections": drawn, "separation": separation})
