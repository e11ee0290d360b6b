"""Scratch: the 13 gap bands of CALIBRATION.md §2 met in full, from a calibration report."""
import re, sys
def met(s, prefix):
    rows = [l for l in s.splitlines() if l.startswith("| " + prefix)]
    assert rows, prefix
    return all(l.rstrip().endswith("| yes |") for l in rows)
for f in sys.argv[1:]:
    s = open(f).read()
    bands = [met(s, "zero-shot mean")]
    bands += [met(s, f"linear_probe − zero-shot, {k} ") for k in (1, 4)]
    bands += [met(s, "linear_probe − zero-shot, 16 ") and met(s, "linear probe below zero-shot")]
    bands += [met(s, f"tip_adapter − zero-shot, {k} ") for k in (1, 4, 16)]
    bands += [met(s, f"tip_adapter_f − zero-shot, {k} ") for k in (1, 4)]
    bands += [met(s, "tip_adapter_f − zero-shot, 16 ") and met(s, "Tip-Adapter-F ≥ Tip-Adapter")]
    bands += [met(s, "LP++ ≥ linear probe and"), met(s, "LP++ ≥ linear probe, 4 "), met(s, "LP++ ≥ linear probe, 16 ")]
    print(f.split("/")[-1], sum(bands), "of", len(bands))
