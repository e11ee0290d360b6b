"""Few-shot baselines on frozen CLIP features: pure functions of feature tensors, no data set, no model.

Every baseline returns a :class:`~mmft_kit.baselines.heads.FeatureHead`: something that maps
L2-normalised image features ``[N, D]`` to class logits ``[N, C]`` and saves as named tensors.

* :func:`fit_linear_probe` — logistic regression, C searched on validation (CLIP paper / CoOp's ``lpclip``);
* :func:`fit_tip_adapter` / :func:`fit_tip_adapter_f` — the training-free cache model and its
  fine-tuned-keys variant (Zhang et al., ECCV 2022), α and β searched on validation;
* :func:`fit_lp_pp` — LP++ (Huang et al., CVPR 2024): visual prototypes blended with the text head
  by class-wise multipliers, step sizes from the loss's Lipschitz constants.
"""

from .heads import HEADS, CosineHead, FeatureHead, LinearHead, head_from_state
from .linear_probe import fit_linear_probe
from .lp_pp import LPPlusPlusHead, fit_lp_pp
from .tip_adapter import TipAdapterHead, fit_tip_adapter, fit_tip_adapter_f, search_alpha_beta

__all__ = [
    "HEADS", "CosineHead", "FeatureHead", "LPPlusPlusHead", "LinearHead", "TipAdapterHead", "fit_linear_probe",
    "fit_lp_pp", "fit_tip_adapter", "fit_tip_adapter_f", "head_from_state", "search_alpha_beta",
]
