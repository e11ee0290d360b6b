"""Scratch: build a default-CLIP variant into OUT (recipe fields from KEY=VALUE args, e.g.
warm_start_attributes=clutter), then print its readability and the share of feature variance by attribute.
python variant.py OUT [KEY=VALUE ...]"""
import sys, json, dataclasses, subprocess
from pathlib import Path
from mmft_kit.embedded.clip import CLIP_RECIPES, build_clip
out = Path(sys.argv[1]); changes = {}
from mmft_kit.data import corpus
for arg in [a for a in sys.argv[2:] if a.startswith("mention.")]:
    corpus.MENTION_RATES[arg.split("=")[0][8:]] = float(arg.split("=")[1])
print("mention rates", corpus.MENTION_RATES, flush=True)
for arg in [a for a in sys.argv[2:] if not a.startswith("mention.")]:
    k, v = arg.split("=")
    changes[k] = tuple(x for x in v.split(",") if x) if k == "warm_start_attributes" else type(getattr(CLIP_RECIPES["default"], k))(v)
recipe = dataclasses.replace(CLIP_RECIPES["default"], **changes)
report = build_clip(recipe, out, progress=False)
(out / "build_report.json").write_text(json.dumps(report, indent=1))
print({k: v for k, v in report.items() if k not in ("recipe", "zero_shot")}, flush=True)
print({k: round(v["accuracy"], 2) for k, v in report["zero_shot"].items()}, flush=True)
