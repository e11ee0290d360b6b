"""One trainer for the synthetic-captions method (``mmft``) and its baselines; registers them in
:data:`mmft_kit.method.METHODS` (family ``clip``: ``mmft``, ``flyp``, ``flyp_ens``, ``ce``, ``zeroshot``, see
:mod:`mmft_kit.train.methods`; family ``frozen``: ``linear_probe``, ``tip_adapter``, ``tip_adapter_f``,
``lp_pp``, run by :mod:`mmft_kit.train.frozen` on the start model's features).

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

from ..method import METHODS, Method, register_method
from .captions import caption_command, load_captions, store_path
from .config import TrainConfig
from .data import Preprocessed, RunData, load_run_data
from .frozen import run_frozen
from .loop import FitResult, fine_tune
from .methods import ZeroShotInitClassifier, class_head, feature_head, loss_function, trainable_model
from .run import RunResult, run_fine_tuning
from .setup import RunSetup, load_start_model, set_up, zero_shot_accuracy
from ..method import run  # noqa: E402, I001  (after the submodule .run: mmft_kit.train.run is this function)

for _method in (
    Method("mmft", "synthetic captions + MMFT loss (CLIP + supervised contrastive), caption-prototype head",
           TrainConfig, run_fine_tuning, "clip", uses_captions=True, wise_ft=True),
    Method("flyp", "FLYP: CLIP loss on ('image', 'a photo of a {class}.') pairs, single-prompt head",
           TrainConfig, run_fine_tuning, "clip", wise_ft=True),
    Method("flyp_ens", "FLYP training as 'flyp'; validated and tested with the 80-template ensemble head",
           TrainConfig, run_fine_tuning, "clip", wise_ft=True),
    Method("ce", "image tower + linear head (initialised from the zero-shot prompt head), cross-entropy",
           TrainConfig, run_fine_tuning, "clip", wise_ft=True),
    Method("zeroshot", "the start model with the single-prompt head, no training",
           TrainConfig, run_fine_tuning, "clip", trains_weights=False),
    Method("linear_probe", "logistic regression on frozen image features, C chosen on validation (CLIP paper)",
           TrainConfig, run_frozen, "frozen", trains_weights=False),
    Method("tip_adapter", "Tip-Adapter: training-free cache of few-shot features + zero-shot head, alpha/beta on "
           "validation", TrainConfig, run_frozen, "frozen", trains_weights=False),
    Method("tip_adapter_f", "Tip-Adapter-F: Tip-Adapter with the cache keys fine-tuned, alpha/beta on validation",
           TrainConfig, run_frozen, "frozen", trains_weights=False),
    Method("lp_pp", "LP++: visual prototypes blended with the text head by class-wise multipliers",
           TrainConfig, run_frozen, "frozen", trains_weights=False),
):
    register_method(_method)

__all__ = [
    "METHODS", "FitResult", "Preprocessed", "RunData", "RunResult", "RunSetup", "TrainConfig",
    "ZeroShotInitClassifier", "caption_command", "class_head", "feature_head", "fine_tune", "load_captions",
    "load_run_data", "load_start_model", "loss_function", "run", "run_fine_tuning", "run_frozen", "set_up",
    "store_path", "trainable_model", "zero_shot_accuracy",
]
