"""The parameters of each notebook, one model per notebook, registered by notebook name.

The notebook reads them with :func:`mmft_kit.notebook.start_notebook` (``start_notebook(NAME, globals())``):
its parameters cell assigns only what a reader changes, papermill injects what a batch sets,
and every other field keeps the default declared here. ``mmft_kit batch`` validates its grid
against the same model before it runs anything.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator, Field

from ..embeddings import PROJECTIONS
from ..method import check_config_method, get_method
from ..methods import METHODS, methods_of
from ..params.base import Params, redefault
from ..params.prompts import PromptScoreParams
from ..params.fields import (CaptionerParams, ClipParams, DataParams, FewShotParams, OptimParams, ReportParams,
                             SeedParams, SeedsParams)
from ..pare.mechanism import MECHANISM
from ..pare.config import GateParams, PareConfig, PareOptimParams, PareTaskParams
from ..train.config import TrainConfig
from ..train.methods import RECIPES


def _train_method(name: str) -> str:
    """``name`` if it is a method configured by a TrainConfig (or a subclass of it: a method registered from
    outside the package)."""
    if not issubclass(get_method(name).config, TrainConfig):
        raise ValueError(f"{name!r} runs with {get_method(name).config.__name__}, not with a TrainConfig; choose "
                         f"from {[n for n, m in METHODS.items() if issubclass(m.config, TrainConfig)]}")
    return name


def _pare_method(name: str) -> str:
    return check_config_method(PareConfig, name)


def _text_tower_method(name: str) -> str:
    """``name`` if it is a fine-tuned CLIP method that trains the text tower and classifies with it."""
    recipe = RECIPES.get(_train_method(name))
    if recipe is None or recipe.loss is None or recipe.classifier:
        raise ValueError(f"{name!r} trains no text tower; choose from "
                         f"{[n for n, r in RECIPES.items() if r.loss is not None and not r.classifier]}")
    return name


P = TypeVar("P", bound=Params)
TrainMethod = Annotated[str, AfterValidator(_train_method)]
PareMethod = Annotated[str, AfterValidator(_pare_method)]
TextTowerMethod = Annotated[str, AfterValidator(_text_tower_method)]
Projection = Literal[PROJECTIONS]
Samples = Annotated[int, Field(ge=1, le=64)]


class NotebookParams(Params):
    """What every notebook takes: where its outputs go, and whether its widgets are live."""

    notebook: ClassVar[str]
    what: ClassVar[str] = "notebook parameters"
    fix: ClassVar[str] = ("Fix them in the parameters cell, or in the batch grid / command line (-p NAME VALUE); "
                          "every parameter is declared in mmft_kit/notebook/params.py.")

    output_dir: str | None = Field(None, description="where figures and metrics.json go (None: runs/<notebook>)")
    interactive: bool | None = Field(None, description="live widgets (True) or static figures (False); None: live "
                                                       "in JupyterLab, static under papermill and mmft_kit batch")

    def config(self, kind: type[P], **changes: Any) -> P:
        """A run config of type ``kind`` (e.g. :class:`mmft_kit.train.TrainConfig`) made from the fields it
        shares with these parameters — not the notebook's own ``output_dir`` and ``interactive`` — with
        ``changes`` on top: how a notebook builds its runs without retyping its parameters."""
        shared = {name: value for name, value in self.model_dump().items()
                  if name in kind.model_fields and name not in NotebookParams.model_fields}
        return kind(**{**shared, **changes})

    def run_config(self, method: str, **changes: Any) -> Params:
        """The run config of ``method`` (its own config class, :data:`mmft_kit.methods.METHODS`) made from these
        parameters as :meth:`config` makes one, with ``changes`` on top."""
        return self.config(get_method(method).config, method=method, **changes)


class Quickstart(NotebookParams, ReportParams, OptimParams, SeedsParams, FewShotParams, CaptionerParams, ClipParams,
                 DataParams):
    """00: caption, fine-tune, compare with the baselines."""

    notebook: ClassVar[str] = "00_quickstart"
    methods: list[TrainMethod] = Field(["zeroshot", "flyp", "mmft", *methods_of("frozen")], min_length=1,
                                       description="methods to compare (default: the start model, FLYP, MMFT and "
                                                   "every frozen-feature baseline, the linear probe and LP++ among "
                                                   "them)")
    make_captions: bool = redefault(TrainConfig, "make_captions", True)


class PromptDesign(NotebookParams, SeedParams, FewShotParams, ClipParams, CaptionerParams, DataParams):
    """01: edit the caption prompt, preview what the captioner writes, and score it (the prompt score: caption
    prototypes of ``shots`` images per class on the frozen start CLIP, over ``draws`` few-shot draws)."""

    notebook: ClassVar[str] = "01_prompt_design"
    characteristic: str = Field("visual", description="the characteristic previewed first")
    characteristics: list[str] = Field(["visual", "shape", "texture"], min_length=1,
                                       description="characteristics compared side by side")
    class_name: str | None = Field(None, description="the class in the prompt (None: each image's own)")
    samples: Samples = Field(4, description="sample images to caption")
    draws: int = redefault(PromptScoreParams, "draws", 3)


class SyntheticCaptions(NotebookParams, SeedParams, ClipParams, CaptionerParams, DataParams):
    """02: caption a data set into the store, browse and measure the captions."""

    notebook: ClassVar[str] = "02_synthetic_captions"
    characteristics: list[str] = Field(["visual", "shape", "texture"], min_length=1,
                                       description="one caption per image and characteristic")
    limit: int | None = Field(48, ge=1, description="caption the first N train images (None: all of them)")
    samples: Samples = Field(6, description="images to browse")


class FewShotFinetuning(NotebookParams, ReportParams, OptimParams, SeedsParams, FewShotParams, CaptionerParams,
                        ClipParams, DataParams):
    """03: every method at one number of shots over several seeds."""

    notebook: ClassVar[str] = "03_few_shot_finetuning"
    methods: list[TrainMethod] = Field([*methods_of("clip"), *methods_of("frozen")], min_length=1,
                                       description="methods to run (default: every fine-tuned and frozen-feature "
                                                   "method of mmft_kit.methods.METHODS; a registered one too)")
    make_captions: bool = redefault(TrainConfig, "make_captions", True)
    eval_sets: list[str] = redefault(TrainConfig, "eval_sets", ["shifted"])
    wise_ft: bool = redefault(TrainConfig, "wise_ft", True)


class EmbeddingVisualisation(NotebookParams, OptimParams, SeedParams, FewShotParams, CaptionerParams, ClipParams,
                             DataParams):
    """04: the embedding space before and after fine-tuning."""

    notebook: ClassVar[str] = "04_embedding_visualisation"
    methods: list[TextTowerMethod] = Field(["flyp", "mmft"], min_length=1,
                                           description="methods with a text tower to compare")
    make_captions: bool = redefault(TrainConfig, "make_captions", True)
    projections: list[Projection] = Field(["pca", "tsne", "umap"], min_length=1,
                                          description="2-D projections (umap only where umap-learn is installed)")
    classes: list[str] | None = Field(None, description="class names to draw (None: every class)")


class PareCrossModal(NotebookParams, ReportParams, PareOptimParams, SeedsParams, GateParams, PareTaskParams):
    """05: PaRe against plain fine-tuning on a target task."""

    notebook: ClassVar[str] = "05_pare_cross_modal"
    methods: list[PareMethod] = Field(["finetune", "pare", "pare_random_gate"], min_length=1,
                                      description="methods on the target task: the PaRe family of "
                                                  "mmft_kit.methods.METHODS")
    mechanism_epochs: int = Field(MECHANISM.training["epochs"], ge=1,
                                  description="training epochs on the mechanism task (0.1-1 min each on 2 CPU cores; "
                                              "default: mmft_kit.pare.MECHANISM's)")
    mechanism_train: int = Field(MECHANISM.task["n_train"], ge=16,
                                 description="training samples of the mechanism task (default: "
                                             "mmft_kit.pare.MECHANISM's)")
    samples: Samples = Field(4, description="samples in the gate figure")


#: Every notebook's parameter model, by notebook name.
NOTEBOOKS: dict[str, type[NotebookParams]] = {
    model.notebook: model for model in (Quickstart, PromptDesign, SyntheticCaptions, FewShotFinetuning,
                                        EmbeddingVisualisation, PareCrossModal)
}


def notebook_params(name: str) -> type[NotebookParams] | None:
    """The parameter model of notebook ``name`` (its file stem), or None for a notebook the kit does not know."""
    return NOTEBOOKS.get(name)
