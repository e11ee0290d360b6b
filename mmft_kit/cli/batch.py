"""``python -m mmft_kit batch``: run notebooks over a parameter grid with papermill, collect the metrics."""

from __future__ import annotations

import argparse
from dataclasses import fields

from ..dispatch import EXECUTORS, ClusterOptions


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="run notebooks over a parameter grid (papermill) and collect their metrics",
        description=(
            "Run one or more notebooks once per point of a parameter grid with papermill: one executed copy\n"
            "per point under RUNS/NAME/NOTEBOOK/POINT/, carrying on past a failing point. Every point's\n"
            "metrics are collected into RUNS/NAME/results.csv and results.md; summary.md holds the table,\n"
            "the failures and the figures. Exit status 1 when a point failed.\n"
            "Running the same batch again skips the points that already succeeded with the same parameters,\n"
            "notebook and kit version (--rerun runs them again), so an interrupted sweep continues."
        ),
        epilog=(
            "examples:\n"
            "  python -m mmft_kit batch notebooks/ --name demo\n"
            "  python -m mmft_kit batch notebooks/03_few_shot_finetuning.ipynb -g shots 1 2 4 -p epochs 5\n"
            "  python -m mmft_kit batch --grid grid.yaml --name shots-sweep\n"
            "  python -m mmft_kit batch --grid grid.yaml --name shots-sweep --workers 4\n"
            "  python -m mmft_kit batch --grid grid.yaml --name shots-sweep --executor slurm --partition gpu \\\n"
            "      --time 120 --gpus 1"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("notebooks", nargs="*",
                        help="notebooks (.ipynb) or folders of notebooks (default: the grid file's 'notebooks')")
    parser.add_argument("--grid", default=None,
                        help="YAML or JSON grid file: 'parameters' (fixed), 'grid' (axes), optional 'notebooks' "
                             "and 'name'")
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a fixed parameter (VALUE read as YAML: 4, true, [0, 1], glyphs); repeatable")
    parser.add_argument("-g", "--grid-param", nargs="+", action="append", default=[], metavar="ITEM",
                        help="a grid axis: NAME VALUE [VALUE ...], each value read as YAML; repeatable")
    parser.add_argument("--name", default=None, help="batch name, the folder under --runs-dir (default: a timestamp)")
    parser.add_argument("--runs-dir", default="runs", help="where batches go (default: runs)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds one cell may run (default: no limit)")
    parser.add_argument("--log-output", action="store_true", help="echo the notebooks' output while they run")
    parser.add_argument("--rerun", action="store_true", help="run points that already succeeded too")
    parser.add_argument("--workers", type=int, default=1,
                        help="points at once on this machine (default: 1; mind OMP_NUM_THREADS)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local: this machine; slurm: one SLURM job array through submitit; submitit-local: "
                             "submitit's local executor (the slurm path without a cluster)")
    cluster = parser.add_argument_group("SLURM jobs (--executor slurm)")
    defaults = ClusterOptions()
    cluster.add_argument("--partition", default=defaults.partition, help="SLURM partition")
    cluster.add_argument("--time", type=int, default=defaults.time_min, dest="time_min",
                         help=f"minutes each point may run (default: {defaults.time_min})")
    cluster.add_argument("--gpus", type=int, default=defaults.gpus,
                         help=f"GPUs per point (default: {defaults.gpus})")
    cluster.add_argument("--cpus", type=int, default=defaults.cpus,
                         help=f"CPU cores per point (default: {defaults.cpus})")
    cluster.add_argument("--mem-gb", type=float, default=defaults.mem_gb, help="memory per point (GB)")
    cluster.add_argument("--parallelism", type=int, default=defaults.parallelism,
                         help="points running at once in the job array (default: no limit)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..batch import Grid, load_grid, parse_value, run_batch
    from ..errors import InvalidInputError

    grid = load_grid(args.grid) if args.grid else Grid()
    for name, value in args.param:
        grid.axes.pop(name, None)
        grid.fixed[name] = parse_value(value)
    for axis in args.grid_param:
        if len(axis) < 2:
            raise InvalidInputError(f"-g {axis[0]} needs one or more values after the name")
        grid.fixed.pop(axis[0], None)
        grid.axes[axis[0]] = [parse_value(v) for v in axis[1:]]
    cluster = ClusterOptions(**{f.name: getattr(args, f.name) for f in fields(ClusterOptions)})
    report = run_batch(args.notebooks, grid, name=args.name, runs_dir=args.runs_dir, timeout=args.timeout,
                       log_output=args.log_output, rerun=args.rerun, workers=args.workers,
                       executor=args.executor, cluster=cluster)
    print(report.summary_line())
    for outcome in report.failed:
        print(f"failed: {outcome.notebook} {outcome.label}: {outcome.error}")
    return 1 if report.failed else 0
