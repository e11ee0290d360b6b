"""Scratch diagnostic (calibration-half task glyphs, tuning seeds 100 101, shipped CLIP): do Tip-Adapter's gains
grow when the task's images vary in fewer attributes that are not the class? glyphs vs the same classes with
colour and background held to one value each. python nuisance_diag.py"""
import dataclasses
import numpy as np
from mmft_kit.data import tasks
from mmft_kit.train import TrainConfig, run
base = tasks.WORLD_TASKS["glyphs"]
tasks.WORLD_TASKS["glyphs_tight"] = dataclasses.replace(
    base, name="glyphs_tight", shared={**base.shared, "colour": "blue", "background": "white"})
print("| task | shots | zeroshot | linear_probe | tip_adapter | tip_adapter_f | lp_pp |\n|---|---|---|---|---|---|---|")
for task in ("glyphs", "glyphs_tight"):
    for shots in (1, 4, 16):
        acc = {m: np.mean([run(TrainConfig(method=m, dataset=task, shots=shots, seed=s, clip="embedded",
                                           device="cpu", progress=False)).test for s in (100, 101)])
               for m in ("zeroshot", "linear_probe", "tip_adapter", "tip_adapter_f", "lp_pp")}
        print(f"| {task} | {shots} | " + " | ".join(f"{100 * v:.1f}" for v in acc.values()) + " |", flush=True)
