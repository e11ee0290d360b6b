"""One trainer for the synthetic-captions method (``mmft``) and its baselines.

Methods (:data:`METHODS`): ``mmft``, ``flyp``, ``flyp_ens``, ``ce``, ``zeroshot``; see
:mod:`mmft_kit.train.methods` for what each trains and how it classifies. The frozen-feature
baselines (:data:`FROZEN_METHODS`: ``linear_probe``, ``tip_adapter``, ``tip_adapter_f``, ``lp_pp``)
run through :mod:`mmft_kit.train.frozen` on the start model's features.

* :func:`run` — one run from a :class:`TrainConfig`, returning a :class:`RunResult` (the shared
  run record of :mod:`mmft_kit.records`: test and validation accuracy, history, seconds; the
  start model's zero-shot accuracy and the optional WiSE-FT curve in ``extra``; the trained
  model and head, provenance);
* the pieces it is made of, for notebooks: :func:`load_run_data`, :func:`load_start_model`,
  :func:`trainable_model`, :func:`loss_function`, :func:`class_head`, :func:`fine_tune`;
* :mod:`.inspect` — test predictions and embedding views of trained runs.

Example::

    from mmft_kit.train import TrainConfig, run
    result = run(TrainConfig(method="mmft", dataset="glyphs", shots=4, epochs=10))
    print(result.test, result.extra["zeroshot"])
"""

from .captions import caption_command, load_captions, store_path
from .config import FROZEN_METHODS, METHODS, TrainConfig, check_method
from .data import Preprocessed, RunData, load_run_data
from .loop import FitResult, fine_tune
from .methods import ZeroShotInitClassifier, class_head, loss_function, trainable_model
from .run import RunResult, load_start_model, run, zero_shot_accuracy

__all__ = [
    "FROZEN_METHODS", "METHODS", "FitResult", "Preprocessed", "RunData", "RunResult", "TrainConfig",
    "ZeroShotInitClassifier", "caption_command", "check_method", "class_head", "fine_tune", "load_captions",
    "load_run_data", "load_start_model", "loss_function", "run", "store_path", "trainable_model",
    "zero_shot_accuracy",
]
