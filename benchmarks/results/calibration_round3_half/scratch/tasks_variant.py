"""Scratch: the calibration half with each task's non-class colour and background narrowed.
python tasks_variant.py G2|G3|H1|H2|T OUT_DIR"""
import dataclasses, sys
sys.path.insert(0, "/work/main")
from mmft_kit.data import tasks
VALUES = {"G2": {"colour": ("red", "blue"), "background": ("white", "black")},
          "G3": {"colour": ("red", "green", "blue"), "background": ("white", "grey", "black")},
          "H1": {"colour": ("blue", "purple"), "background": ("white", "grey")},
          "H2": {"colour": "blue", "background": ("white", "grey")},
          "T": {"colour": "blue", "background": "white"}}[sys.argv[1]]
for name, task in list(tasks.WORLD_TASKS.items()):
    used = {key for rule in task.classes.values() for key in rule} | set(task.shared)
    narrowed = {k: v for k, v in VALUES.items() if k not in used}
    tasks.WORLD_TASKS[name] = dataclasses.replace(task, shared={**task.shared, **narrowed})
    print(name, narrowed, flush=True)
from benchmarks import calibration
held_out = "--held-out" in sys.argv  # the check: held-out tasks, benchmark seeds (fork workers inherit the patch)
calibration.main(["--half", "held_out" if held_out else "calibration", "--seeds", *(["0", "1", "2"] if held_out else
                  ["100", "101"]), "--workers", "2" if held_out else "1", "--clip", "embedded", "--out", sys.argv[2],
                  "--name", f"{'heldout' if held_out else 'calhalf'}_{sys.argv[1]}"])
