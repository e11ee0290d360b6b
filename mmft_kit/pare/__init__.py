"""PaRe: cross-modal fine-tuning with gradually intermediate modality generation (Cai et al., ICML 2024).

A pretrained transformer body (by default the kit's CLIP image tower) is fine-tuned on a target
modality (tabular data, PDE fields, 1D signals, spherical images, or the user's arrays) through
a trainable target embedder. PaRe additionally feeds the body *mixed* inputs: a shared patch gate
scores source-image and target patches, and the best source patches replace the worst target
patches, fewer and fewer over training (``k = int(begin − end · epoch / epochs)``).

Quick use::

    from mmft_kit.pare import get_target_task, fit, TrainConfig
    task = get_target_task("darcy")
    model, result = fit(task, method="pare", config=TrainConfig(epochs=10, gate_signal="relaxed"))
    print(result.metric, result.test, result.history[-1].extra["gate_rank_corr"])
"""

from .align import align_embedder, mmd, otdd
from .bodies import load_body, tiny_vit
from .config import MIX_WEIGHTS, SOURCE_OBJECTIVES, TrainConfig, resolve_config, task_kind
from .body import HFEncoderBody, OpenClipViTBody, TokenBody, as_body, randomize_
from .embedders import PatchEmbed2D, SeqEmbed1D, TabularTokenizer, TargetEmbedder, make_embedder, srcinit
from .diagnostics import GateMonitor
from .gate import PatchGate
from .mechanism import gate_auroc, informative_mask, mechanism_task
from .metrics import METRICS, get_metric
from .model import PaReModel, build_pare_model
from .replace import gumbel_topk, relaxed_replace, replace_patches, replacement_count, select_patches, topk_mask
from .source import SourceData, source_from_arrays, world_source
from .targets import (TASKS, TargetTask, darcy_task, get_target_task, signal_task, spherical_task, tabular_task,
                      task_from_arrays, task_from_datasets)
from .train import METHODS, MIXING, evaluate, fit, pare_loss, random_streams

__all__ = [
    "GateMonitor", "HFEncoderBody", "METHODS", "METRICS", "MIXING", "MIX_WEIGHTS", "OpenClipViTBody", "PaReModel",
    "PatchEmbed2D",
    "PatchGate", "SOURCE_OBJECTIVES", "SeqEmbed1D", "SourceData", "TASKS", "TabularTokenizer", "TargetEmbedder",
    "TargetTask", "TokenBody", "TrainConfig", "align_embedder", "as_body", "build_pare_model", "darcy_task",
    "evaluate", "fit", "gate_auroc", "get_metric", "get_target_task", "gumbel_topk", "informative_mask", "load_body",
    "make_embedder", "mechanism_task", "mmd", "otdd", "pare_loss", "random_streams", "randomize_", "relaxed_replace",
    "replace_patches", "replacement_count", "resolve_config", "select_patches", "signal_task", "source_from_arrays",
    "spherical_task", "srcinit", "tabular_task", "task_kind", "task_from_arrays", "task_from_datasets", "tiny_vit",
    "topk_mask", "world_source",
]
