"""``python -m mmft_kit batch``: run notebooks over a parameter grid with papermill, collect the metrics."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="run notebooks over a parameter grid (papermill) and collect their metrics",
        description=(
            "Run one or more notebooks once per point of a parameter grid with papermill: one executed copy\n"
            "per point under RUNS/NAME/NOTEBOOK/POINT/, carrying on past a failing point. Every point's\n"
            "metrics are collected into RUNS/NAME/results.csv and results.md; summary.md holds the table,\n"
            "the failures and the figures. Exit status 1 when a point failed."
        ),
        epilog=(
            "examples:\n"
            "  python -m mmft_kit batch notebooks/ --name demo\n"
            "  python -m mmft_kit batch notebooks/03_few_shot_finetuning.ipynb -g shots 1 2 4 -p epochs 5\n"
            "  python -m mmft_kit batch --grid grid.yaml --name shots-sweep"
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
    report = run_batch(args.notebooks, grid, name=args.name, runs_dir=args.runs_dir, timeout=args.timeout,
                       log_output=args.log_output)
    print(report.summary_line())
    for outcome in report.failed:
        print(f"failed: {outcome.notebook} {outcome.label}: {outcome.error}")
    return 1 if report.failed else 0
