"""Scratch: round-3 variant build. python variant3.py OUT [no-colour-stats] [mention.X=V ...]
no-colour-stats: zero the warm start's thumbnail and colour-histogram targets (same decoder shape)."""
import sys, json
from pathlib import Path
import torch
from mmft_kit.data import corpus
from mmft_kit.embedded import clip
out = Path(sys.argv[1])
for arg in [a for a in sys.argv[2:] if a.startswith("mention.")]:
    corpus.MENTION_RATES[arg.split("=")[0][8:]] = float(arg.split("=")[1])
if "no-colour-stats" in sys.argv:
    original = clip.pixel_statistics
    def without_colour(images: torch.Tensor, thumbnail: int) -> torch.Tensor:
        targets = original(images, thumbnail)
        targets[:, :3 * thumbnail * thumbnail + 27] = 0
        return targets
    clip.pixel_statistics = without_colour
print("mention rates", corpus.MENTION_RATES, "no-colour-stats" in sys.argv, flush=True)
report = clip.build_clip(clip.CLIP_RECIPES["default"], out, progress=False)
(out / "build_report.json").write_text(json.dumps(report, indent=1))
print({k: v for k, v in report.items() if k not in ("recipe", "zero_shot")}, flush=True)
