"""PaRe: cross-modal fine-tuning with gradually intermediate modality generation (Cai et al., ICML 2024).

A pretrained transformer body (by default the kit's CLIP image tower) is fine-tuned on a target
modality (tabular data, PDE fields, 1D signals, spherical images, or the user's arrays) through
a trainable target embedder. PaRe additionally feeds the body *mixed* inputs: a shared patch gate
scores source-image and target patches, and the best source patches replace the worst target
patches, fewer and fewer over training (``k = int(begin − end · epoch / epochs)``).

Quick use::

    from mmft_kit.pare import get_target_task, fit, TrainConfig
    task = get_target_task("wdbc")
    model, result = fit(task, method="pare", config=TrainConfig(epochs=10))
    print(result.metric, result.test)
"""

from .align import align_embedder, mmd, otdd
from .bodies import load_body, tiny_vit
from .body import HFEncoderBody, OpenClipViTBody, TokenBody, as_body, randomize_
from .embedders import PatchEmbed2D, SeqEmbed1D, TabularTokenizer, TargetEmbedder, make_embedder, srcinit
from .gate import PatchGate
from .metrics import METRICS, get_metric
from .model import PaReModel, build_pare_model
from .replace import gumbel_topk, replace_patches, replacement_count, select_patches, topk_mask
from .source import SourceData, source_from_arrays, world_source
from .targets import (TASKS, TargetTask, darcy_task, get_target_task, signal_task, spherical_task, tabular_task,
                      task_from_arrays, task_from_datasets)
from .train import METHODS, EpochLog, RunResult, TrainConfig, evaluate, fit, pare_loss

__all__ = [
    "EpochLog", "HFEncoderBody", "METHODS", "METRICS", "OpenClipViTBody", "PaReModel", "PatchEmbed2D", "PatchGate",
    "RunResult", "SeqEmbed1D", "SourceData", "TASKS", "TabularTokenizer", "TargetEmbedder", "TargetTask", "TokenBody",
    "TrainConfig", "align_embedder", "as_body", "build_pare_model", "darcy_task", "evaluate", "fit", "get_metric",
    "get_target_task", "gumbel_topk", "load_body", "make_embedder", "mmd", "otdd", "pare_loss", "randomize_",
    "replace_patches", "replacement_count", "select_patches", "signal_task", "source_from_arrays", "spherical_task",
    "srcinit", "tabular_task", "task_from_arrays", "task_from_datasets", "tiny_vit", "topk_mask", "world_source",
]
