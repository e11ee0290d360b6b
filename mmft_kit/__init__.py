"""mmft_kit: multimodal fine-tuning research kit.

Two methods in one small package:

* fine-tuning a CLIP-style model with synthetic captions written by a multimodal LLM
  (Enomoto & Yamaguchi, arXiv 2601.21426): :mod:`mmft_kit.captions`,
  :mod:`mmft_kit.losses`, :mod:`mmft_kit.inference`, :mod:`mmft_kit.train`;
* PaRe, cross-modal fine-tuning with a patch gate and gradually generated intermediate
  modalities (Cai et al., ICML 2024): :mod:`mmft_kit.pare`.

Everything runs offline on CPU with the embedded world and models (:mod:`mmft_kit.data`,
:mod:`mmft_kit.zoo`) and takes real open_clip / transformers models and torchvision data
sets through the same code paths.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``mmft_kit.load_classifier`` without importing torch at ``import mmft_kit``."""
    if name == "load_classifier":
        from .classifier import load_classifier

        return load_classifier
    raise AttributeError(f"module 'mmft_kit' has no attribute {name!r}")
