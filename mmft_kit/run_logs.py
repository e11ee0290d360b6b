"""Experiment logs where researchers look: a run's epochs and its result as TensorBoard events or an offline W&B run.

A run config's ``report_to`` (declared once, in :class:`mmft_kit.params.fields.ReportParams`, part of every run
config) names the loggers. Both trainers hand every :class:`~mmft_kit.records.EpochRecord` to :meth:`RunLogger.epoch`
through their epoch hook (``on_epoch``) and the finished :class:`~mmft_kit.records.RunResult` to
:meth:`RunLogger.finish`. Per epoch: ``train/loss``, ``train/lr``, ``val/<metric>``, ``time/epoch_seconds``
and the method's numeric ``extra`` figures (``extra/<name>``); at the end ``test/<metric>`` (and
``test/zeroshot``). The events go to ``<log folder>/<data set or task>/<method>-seed<seed>/`` (:func:`log_folder`);
``tensorboard --logdir runs`` shows every run the kit wrote under ``runs/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import InvalidInputError
from .records import EpochRecord, RunResult

#: Where logs go when a run has neither ``log_dir`` nor ``output_dir``.
DEFAULT_LOG_DIR = "runs/logs"
#: The W&B project offline runs are filed under.
WANDB_PROJECT = "mmft_kit"


def log_folder(config: Any, subject: str) -> Path:
    """Where the logs of ``config``'s run on ``subject`` (its data set or task) go:
    ``LOG_DIR/SUBJECT/METHOD-seedSEED``, where ``LOG_DIR`` is the config's ``log_dir``, else ``OUTPUT_DIR/logs``,
    else :data:`DEFAULT_LOG_DIR`."""
    base = config.log_dir or (Path(config.output_dir) / "logs" if config.output_dir else DEFAULT_LOG_DIR)
    return Path(base) / (Path(subject).name or "data") / f"{config.method}-seed{config.seed}"


def _scalars(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}


class RunLogger:
    """The loggers of one run of ``config`` on ``subject`` (its data set or task) whose metric is ``metric``;
    none when ``report_to`` is empty, or on a rank other than 0."""

    def __init__(self, config: Any, subject: str, metric: str) -> None:
        import torch.distributed as dist

        self.metric = metric
        self.folder = log_folder(config, subject)
        names = [] if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0 else config.report_to
        self._tensorboard = self._wandb = None
        if "tensorboard" in names:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(log_dir=str(self.folder))
            self._tensorboard.add_text("config", f"```\n{json.dumps(config.to_dict(), indent=1, default=str)}\n```")
        if "wandb" in names:
            import wandb

            self._wandb = wandb.init(project=WANDB_PROJECT, name=f"{self.folder.parent.name}/{self.folder.name}", dir=str(self.folder),
                                     mode="offline", config=config.to_dict(), reinit="create_new")

    def _log(self, values: dict[str, float], step: int) -> None:
        if self._tensorboard is not None:
            for tag, value in values.items():
                self._tensorboard.add_scalar(tag, value, step)
            self._tensorboard.flush()
        if self._wandb is not None:
            self._wandb.log(values, step=step)

    def epoch(self, record: EpochRecord) -> None:
        """Log one epoch's loss, learning rate, validation metric, time and numeric extras."""
        values = {"train/loss": record.loss, "train/lr": record.lr, "time/epoch_seconds": record.seconds}
        if record.val is not None:
            values[f"val/{self.metric}"] = record.val
        values.update({f"extra/{k}": v for k, v in _scalars(record.extra).items()})
        self._log(values, record.epoch)

    def finish(self, result: RunResult) -> None:
        """Log the test figures (at the kept epoch) and close the loggers."""
        values = {f"test/{result.metric}": result.test}
        if isinstance(result.extra.get("zeroshot"), float):
            values["test/zeroshot"] = result.extra["zeroshot"]
        self._log(values, result.best_epoch)
        if self._tensorboard is not None:
            self._tensorboard.close()
        if self._wandb is not None:
            self._wandb.finish()


def read_scalars(folder: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the TensorBoard event files in ``folder``: tag → ``[(step, value), ...]``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not Path(folder).is_dir():
        raise InvalidInputError(f"no such folder: {folder}")
    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
