"""Data: the procedural world, its tasks, the data set registry and the few-shot sampler."""

from .arrays import ArrayImageDataset
from .corpus import Corpus, make_corpus
from .tasks import WORLD_TASKS, WorldTask, make_world_task
from .world import ATTRIBUTES, Attributes, describe, render, render_many, sample_attributes
from .digits import make_digits
from .images import load_rgb, to_rgb
from .items import dataset_image, dataset_info, dataset_label, dataset_name, item_path
from .few_shot import LabelledSubset, few_shot, split_hash, stratified_split, train_val_split
from .paper_datasets import BENCHMARKS
from .imagenet_variants import IMAGENET_VARIANTS
from .shifts import SHIFTED_TASKS, shifted_variants
from .registry import available_splits, get_dataset, image_folder_path, list_datasets

__all__ = [
    "ATTRIBUTES", "ArrayImageDataset", "Attributes", "Corpus", "WORLD_TASKS", "WorldTask", "describe",
    "make_corpus", "make_world_task", "render", "render_many", "sample_attributes",
    "BENCHMARKS", "IMAGENET_VARIANTS", "SHIFTED_TASKS", "shifted_variants", "LabelledSubset", "available_splits",
    "few_shot", "get_dataset", "image_folder_path", "list_datasets", "make_digits", "split_hash", "stratified_split", "train_val_split",
    "load_rgb", "to_rgb", "dataset_image", "dataset_info", "dataset_label", "dataset_name", "item_path",
]
