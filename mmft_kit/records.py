"""The run record both trainers speak: one epoch's record and one run's result.

MMFT (``mmft_kit.train``) and PaRe (``mmft_kit.pare``) fill the same two shapes, so tables, plots,
the sweep helper and the batch runner read either without knowing which method made them.
Method-specific figures of an epoch (PaRe's replacement count and gate diagnostics, say) go in
``EpochRecord.extra``; a run's extra test metrics (shifted test sets, WiSE-FT) go in ``RunResult.extra``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .io import atomic_write_json

#: The file a run folder keeps its record in.
RESULTS_NAME = "results.json"


@dataclass
class EpochRecord:
    """One epoch: mean training loss, learning rate after its last step, validation metric, wall time.

    ``val`` is ``None`` for an epoch that was not validated. ``extra`` holds the method's own
    per-epoch figures (JSON-able values only).
    """

    epoch: int
    loss: float
    lr: float
    val: float | None
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """One run: its test and validation metric at the kept epoch, its history and its wall time.

    ``metric`` names what ``test`` and ``val`` measure (``accuracy``, ``relative_l2``, ...);
    ``higher_is_better`` says which way it points. ``config`` is the run's configuration as
    plain values; ``extra`` holds further test figures (JSON-able). A family's runner returns a
    subclass with the model (and its head) attached; :meth:`record` and :meth:`to_dict` leave them out.
    """

    method: str
    seed: int
    metric: str
    higher_is_better: bool
    test: float
    val: float | None
    best_epoch: int
    seconds: float
    history: list[EpochRecord]
    config: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The scalar figures as one flat row (no history, no config); ``shifted`` is the mean accuracy over
        the further evaluation sets (``extra["eval"]``) when the run has any."""
        row = {"method": self.method, "seed": self.seed, "metric": self.metric, "test": self.test,
               "val": self.val, "best_epoch": self.best_epoch, "seconds": self.seconds}
        row.update({k: v for k, v in self.extra.items() if isinstance(v, (int, float, str, bool)) or v is None})
        if self.extra.get("eval"):
            row["shifted"] = sum(self.extra["eval"].values()) / len(self.extra["eval"])
        return row

    def record(self) -> "RunResult":
        """The shared run record alone (no model)."""
        return RunResult(**{f.name: getattr(self, f.name) for f in fields(RunResult)})

    def to_dict(self) -> dict[str, Any]:
        """The shared record as JSON-able values (history included)."""
        return asdict(self.record())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        """The result saved by :meth:`to_dict`."""
        data = dict(data)
        data["history"] = [EpochRecord(**r) for r in data.get("history", [])]
        return cls(**data)


def save_record(result: RunResult, folder: str | Path) -> Path:
    """Write ``result``'s record to ``folder/results.json`` (atomically); the path written."""
    path = Path(folder) / RESULTS_NAME
    atomic_write_json(path, result.to_dict())
    return path
