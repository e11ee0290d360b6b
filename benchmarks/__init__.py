"""Benchmarks: modules that print figures (headline last) and write them under ``benchmarks/results/``.

Run each from the repository root as a module, e.g. ``python -m benchmarks.few_shot --help``.
"""
