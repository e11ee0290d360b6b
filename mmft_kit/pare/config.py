"""One PaRe run's config (:class:`PareConfig`) and the authors' settings per task kind.

Fields left ``None`` take the value of the documented tables below for the task at hand
(:func:`resolve_config`); every other default is the kit's. The authors' settings (BIT-DA/PaRe,
``main_PaRe.py``, ``main_PaRe_dense.py``, ``main_PaRe_1d.py``):

=========================  ================  =============  ==================  ==================
task kind                  (begin, end) / N  mixing c       source objective    authors' script
=========================  ================  =============  ==================  ==================
image classification       (0.638, 0.478)    1.0            CE on pooled token  2D, 2000/1500 of 3136
image dense / regression   (0.319, 0.159)    0.3            BCE vs object mask  dense, 1000/500 of 3136
1D sequence (any)          (0.5, 0.5)        0.1            CE on pooled token  1D, 32/32 of 64
tabular (any)              (0.5, 0.5)        0.1            CE on pooled token  1D (OpenML runs there)
=========================  ================  =============  ==================  ==================

The dense source objective needs source masks (:func:`~mmft_kit.pare.source.world_source` renders
them); without masks a dense task falls back to the CE objective.

Gate learning signal (``gate_signal``):

* ``"authors"``: the authors' rule. Replaced target slots are overwritten by source tokens, so the
  gate only gets the straight-through derivative of the *kept* tokens' scale.
* ``"relaxed"``: the same forward pass, but a replaced slot is ``keep·target + (1 − keep)·source``, so
  the derivative of the loss in its keep weight is ``⟨∂L/∂slot, target − source⟩``: what keeping
  instead of replacing that slot would change, for the replaced slots (kept slots pass none). The
  gate then learns from the target side only (source scores still pick the source patches).

Selection the gate can steer (``gumbel_input``): the authors feed the gate's *sigmoid* scores (spread about 0.1–0.2
on the tasks here) to the Gumbel top-k against unit Gumbel noise (s.d. 1.28), so the early choice is nearly uniform
whatever the gate learned. ``"logit"`` feeds the gate's logit instead: the Gumbel-softmax's natural parameter (a
log-probability), unbounded, so a gate that separates tokens by a few logit units steers the draw. The order of
scores, hence the deterministic top-k after the Gumbel epochs (``gumbel_frac``), is the same either way.

Placement (``placement``): the authors write the i-th chosen source patch into the i-th replaced target slot, which
scrambles the source image's layout, so a shape label cannot be read from a mixed input. ``"position"`` (a
deviation from the authors) replaces the chosen target slots with the source patches at the *same* positions (the
source's own scores are not used); it needs equal source and target token counts.

Source label (``source_label``): the world attribute that labels the source images. The kit's default is ``shape``
(6 classes, the analogue of the authors' CIFAR-10 objects); ``colour`` (6 classes) is patch-local, so it can be
read from any subset of a source image's patches, also after the authors' scrambling placement. Dense tasks use
the object mask (``source_objective="mask"``) whatever the label.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..errors import InvalidInputError
from ..params.base import Params, redefault
from ..params.fields import OptimParams, RunParams
from .replace import GUMBEL_TAU

#: The authors' (begin, end) as fractions of the target's tokens, by task kind (3136 Swin / 64 RoBERTa tokens).
AUTHOR_SCHEDULES: dict[str, tuple[float, float]] = {
    "image": (2000 / 3136, 1500 / 3136), "dense": (1000 / 3136, 500 / 3136),
    "sequence": (0.5, 0.5), "tabular": (0.5, 0.5),
}
#: The authors' mixing weight c by task kind.
MIX_WEIGHTS: dict[str, float] = {"image": 1.0, "dense": 0.3, "sequence": 0.1, "tabular": 0.1}
#: The authors' source objective by task kind: ``"ce"`` (source classes from the pooled token) or ``"mask"``
#: (the dense prediction on mixed inputs against the source image's object mask, by BCE).
SOURCE_OBJECTIVES: dict[str, str] = {"image": "ce", "dense": "mask", "sequence": "ce", "tabular": "ce"}


def task_kind(task) -> str:
    """``"image"`` (2D classification), ``"dense"`` (2D regression/dense), ``"sequence"`` or ``"tabular"``."""
    if task.input_kind == "image":
        return "image" if task.task_type == "classification" else "dense"
    return task.input_kind


class PareTaskParams(Params):
    """Which target task, and which pretrained body."""

    task: str = Field("spherical", description="a PaRe target task of mmft_kit.pare.TASKS "
                                                   "(spherical, darcy, signals, mechanism, ...)")
    body: str = Field("embedded", description="the pretrained body: the image tower of 'embedded', 'embedded:ci', "
                                              "an open_clip name, or 'tiny-random'")

class GateParams(Params):
    """How PaRe's gate learns."""

    gate_signal: Literal["authors", "relaxed"] = Field(
        "authors", description="how the gate learns: the authors' rule or the relaxed replacement")
    gumbel_input: Literal["sigmoid", "logit"] = Field(
        "sigmoid", description="what the Gumbel top-k ranks: the gate's sigmoid scores (the authors') or its "
                               "logits (selection the gate can steer)")
    placement: Literal["ordered", "position"] = Field(
        "ordered", description="where source patches go: the i-th chosen to the i-th replaced slot (the authors') "
                               "or each replaced slot takes the source patch at its own position (a deviation)")


class PareParams(GateParams, PareTaskParams):
    """PaRe's own settings: the task and body, the replacement schedule, the gate, the mixing, ORCA."""

    warmup_frac: float = Field(0.1, ge=0, le=1, description="share of steps with linear warm-up, then linear decay")
    clip_grad: float = Field(1.0, ge=0, description="gradient-norm clip (0: off)")
    begin_frac: float | None = Field(None, ge=0, le=1, description="k at epoch 0, as a share of target tokens")
    end_frac: float | None = Field(None, ge=0, le=1, description="how much k falls over training, share of tokens")
    gumbel_frac: float = Field(1 / 6, ge=0, le=1,
                               description="share of epochs (from the start) with the differentiable Gumbel "
                                           "top-k; the authors' 10 of 60")
    gate_lr_scale: float = Field(1.0, gt=0, description="the gate's learning rate as a multiple of lr")
    tau: float = Field(GUMBEL_TAU, gt=0, description="temperature of the Gumbel top-k")
    mix_weight: float | None = Field(None, ge=0, description="c: weight of the mixed-input terms")
    source_objective: Literal["ce", "mask"] | None = Field(None, description="the source term on mixed inputs")
    source_tokens: Literal["body", "target"] = Field(
        "body", description="source images rendered at the body's image size, or at the size whose patch grid "
                            "equals the target's token count (the authors resize both to one size)")
    source_label: str = Field("shape", description="the world attribute that labels the source images (shape, the "
                                                   "kit's default; colour is patch-local)")
    orca_objective: Literal["otdd", "mmd"] = Field("otdd", description="ORCA's alignment distance")
    orca_steps: int = Field(40, ge=0, description="ORCA alignment steps")
    orca_lr: float = Field(1e-3, gt=0, description="ORCA alignment learning rate")
    select: Literal["best_val", "last"] = Field("best_val", description="which epoch's weights are tested")
    gate_log_samples: int = Field(128, ge=1, description="validation samples the gate diagnostics score")


class PareOptimParams(OptimParams):
    """The optimiser's settings with PaRe's defaults: 20 epochs, weight decay 0.01."""

    epochs: int = redefault(OptimParams, "epochs", 20)
    weight_decay: float = redefault(OptimParams, "weight_decay", 0.01)


class PareConfig(RunParams, PareOptimParams, PareParams):
    """One run of a PaRe-family method (``scratch``, ``finetune``, ``orca``, ``pare``, ``pare_random_gate``).

    ``None`` fields take the task kind's value (see :func:`resolve_config`). AdamW with the authors'
    linear warm-up and decay (:class:`PareOptimParams`).
    """

    what = "PareConfig settings"
    fix = "Fix them where the config is made (notebook 05's parameters, the benchmark's settings)."

    method: str = redefault(RunParams, "method", "pare")

    @property
    def gumbel_epochs(self) -> int:
        """Epochs with the Gumbel top-k: ``round(gumbel_frac · epochs)``, at least 1 when ``gumbel_frac > 0``."""
        return max(1, round(self.gumbel_frac * self.epochs)) if self.gumbel_frac > 0 else 0


def resolve_config(task, config: PareConfig) -> PareConfig:
    """``config`` with its ``None`` fields set from the tables for ``task``'s kind (a copy).

    Raises:
        InvalidInputError: the mask objective asked for on a task without a dense output.
    """
    kind = task_kind(task)
    begin, end = AUTHOR_SCHEDULES[kind]
    update = {"begin_frac": begin if config.begin_frac is None else config.begin_frac,
              "end_frac": end if config.end_frac is None else config.end_frac,
              "mix_weight": MIX_WEIGHTS[kind] if config.mix_weight is None else config.mix_weight,
              "source_objective": config.source_objective or SOURCE_OBJECTIVES[kind]}
    if update["source_objective"] == "mask" and task.task_type != "dense":
        raise InvalidInputError(f"source_objective 'mask' needs a dense task; {task.name!r} is {task.task_type}")
    return config.model_copy(update=update)
