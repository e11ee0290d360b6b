"""PaRe: cross-modal fine-tuning with gradually intermediate modality generation (Cai et al., ICML 2024).

A pretrained transformer body (by default the kit's CLIP image tower) is fine-tuned on a target
modality (tabular data, PDE fields, 1D signals, spherical images, or the user's arrays) through
a trainable target embedder. PaRe additionally feeds the body *mixed* inputs: a shared patch gate
scores source-image and target patches, and the best source patches replace the worst target
patches, fewer and fewer over training (``k = int(begin − end · epoch / epochs)``).

Quick use::

    from mmft_kit.pare import PareConfig, run
    result = run(PareConfig(method="pare", task="darcy", epochs=10, gate_signal="relaxed"))
    print(result.metric, result.test, result.history[-1].extra["gate_rank_corr"])

Importing the package registers its methods (family ``pare``) in :data:`mmft_kit.method.METHODS`.
"""

from ..method import Method, register_method
from .align import align_embedder, mmd, otdd
from .bodies import load_body, tiny_vit
from .config import (MIX_WEIGHTS, SOURCE_OBJECTIVES, GateParams, PareConfig, PareOptimParams, PareParams,
                     PareTaskParams, resolve_config, task_kind)
from .body import HFEncoderBody, OpenClipViTBody, TokenBody, as_body, randomize_
from .experiments import (COMPARISONS, gate_aurocs, informative_share, mechanism_runs,  # noqa: I001
                          mechanism_task_of, schedule_figures)
from .embedders import PatchEmbed2D, SeqEmbed1D, TabularTokenizer, TargetEmbedder, make_embedder, srcinit
from .diagnostics import GateMonitor, manipulation_checks
from .gate import PatchGate
from .mechanism import MECHANISM, MechanismPreset, gate_auroc, informative_mask, mechanism_task
from .metrics import METRICS, get_metric
from .model import PaReModel, build_pare_model, source_image_size
from .provenance import body_record, check_one_body, weights_checksum
from .replace import (gumbel_topk, positional_take, relaxed_replace, replace_patches, replacement_count,
                      select_patches, topk_mask)
from .source import SourceData, world_source
from .targets import (TASKS, TargetTask, darcy_task, get_target_task, signal_task, spherical_task, tabular_task,
                      task_from_arrays, task_from_datasets)
from .train import METHODS, MIXING, PareRunResult, choose_slots, evaluate, fit, pare_loss, random_streams, run

for _method in (
    Method("scratch", "the body re-initialised at random, a random target embedder, trained on the target task",
           PareConfig, run, "pare", metric="task metric", higher_is_better=False),
    Method("finetune", "plain cross-modal fine-tuning: srcinit embedder, pretrained body, no replacement",
           PareConfig, run, "pare", metric="task metric", higher_is_better=False),
    Method("orca", "ORCA: the target embedder aligned to the source embeddings (OTDD or MMD) first, then finetune",
           PareConfig, run, "pare", metric="task metric", higher_is_better=False),
    Method("pare", "PaRe: finetune plus gated patch replacement with source images and the lambda-weighted loss",
           PareConfig, run, "pare", metric="task metric", higher_is_better=False),
    Method("pare_random_gate", "PaRe with the gate frozen at its random initialisation (a fixed, content-dependent "
           "selector after the Gumbel epochs)", PareConfig, run, "pare", metric="task metric", higher_is_better=False),
    Method("pare_uniform", "PaRe's mixing with uniformly random slots and source patches (the gate's control)",
           PareConfig, run, "pare", metric="task metric", higher_is_better=False),
):
    register_method(_method)

__all__ = [
    "COMPARISONS", "MECHANISM", "METHODS", "METRICS", "MIXING", "MIX_WEIGHTS", "SOURCE_OBJECTIVES", "TASKS",
    "GateMonitor", "GateParams", "HFEncoderBody", "MechanismPreset", "OpenClipViTBody", "PaReModel", "PareConfig",
    "PareOptimParams", "PareParams", "PareRunResult", "PareTaskParams", "PatchGate", "SourceData", "TabularTokenizer",
    "TargetEmbedder", "TargetTask", "TokenBody", "align_embedder", "as_body", "body_record", "build_pare_model",
    "check_one_body", "choose_slots", "darcy_task", "evaluate", "fit", "gate_auroc", "gate_aurocs", "get_metric",
    "get_target_task", "gumbel_topk", "informative_mask", "informative_share", "load_body", "make_embedder", "manipulation_checks",
    "mechanism_runs", "mechanism_task", "mechanism_task_of", "mmd", "otdd", "pare_loss", "positional_take",
    "random_streams", "randomize_", "relaxed_replace", "replace_patches", "replacement_count", "resolve_config",
    "run", "schedule_figures", "select_patches", "signal_task", "source_image_size", "spherical_task", "srcinit",
    "tabular_task", "task_from_arrays", "task_from_datasets", "task_kind", "tiny_vit", "topk_mask",
    "weights_checksum", "world_source",
]
