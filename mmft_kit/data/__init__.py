"""Data: the procedural world, its tasks, the data set registry and the few-shot sampler."""

from .arrays import ArrayImageDataset
from .corpus import Corpus, make_corpus
from .tasks import WORLD_TASKS, WorldTask, make_world_task
from .world import ATTRIBUTES, Attributes, describe, describe_characteristic, render, render_many, sample_attributes

__all__ = [
    "ATTRIBUTES", "ArrayImageDataset", "Attributes", "Corpus", "WORLD_TASKS", "WorldTask", "describe",
    "describe_characteristic", "make_corpus", "make_world_task", "render", "render_many", "sample_attributes",
]
