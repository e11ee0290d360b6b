"""Run independent jobs here one by one, in parallel processes on this machine, or as a SLURM job array.

One interface for the three: :func:`dispatch` calls ``function(item)`` for every item and yields
``(index, result)`` as each job ends. On a cluster the jobs go through submitit (one job array);
submitit's local executor runs the same path without a cluster (``executor="submitit-local"``).
The function must catch its own failures and return them as results: a job that dies anyway
(killed, out of memory) is reported through ``on_lost`` and the others carry on.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .errors import InvalidInputError

#: Where jobs run: this process, submitit's SLURM executor, or submitit's local executor (for tests).
EXECUTORS = ("local", "slurm", "submitit-local")


@dataclass(frozen=True)
class ClusterOptions:
    """What each SLURM job asks for (ignored by the local executors)."""

    partition: str | None = None
    time_min: int = 60
    gpus: int = 0
    cpus: int = 4
    mem_gb: float | None = None
    parallelism: int | None = None

    def submitit_parameters(self) -> dict[str, Any]:
        """The ``AutoExecutor.update_parameters`` settings for these options."""
        options: dict[str, Any] = {"timeout_min": self.time_min, "gpus_per_node": self.gpus,
                                   "cpus_per_task": self.cpus, "tasks_per_node": 1, "nodes": 1}
        if self.partition:
            options["slurm_partition"] = self.partition
        if self.mem_gb is not None:
            options["mem_gb"] = self.mem_gb
        if self.parallelism:
            options["slurm_array_parallelism"] = self.parallelism
        return options


def dispatch(function: Callable[[Any], Any], items: Sequence[Any], workers: int = 1, executor: str = "local",
             folder: str | os.PathLike | None = None, cluster: ClusterOptions | None = None,
             on_lost: Callable[[int, BaseException], Any] | None = None,
             on_start: Callable[[int], Any] = lambda index: None) -> Iterator[tuple[int, Any]]:
    """Call ``function`` on every item; yield ``(index, result)`` as each job ends.

    Args:
        function: a picklable (module-level) function of one item.
        items: picklable items.
        workers: processes at once on this machine (``executor="local"``); 1 runs in this process.
        executor: one of :data:`EXECUTORS`.
        folder: where submitit keeps its logs and pickles (needed for the submitit executors).
        cluster: what each SLURM job asks for.
        on_lost: called with the index and error of a job that died without a result; the result
            it returns is yielded for that job (by default the error is raised).
        on_start: called with a job's index when it is handed to its executor (run, queued or submitted).

    Returns:
        An iterator of ``(index, result)`` pairs, in the order the jobs end.
    """
    if executor not in EXECUTORS:
        raise InvalidInputError(f"unknown executor {executor!r}; choose one of {list(EXECUTORS)}")
    if workers < 1:
        raise InvalidInputError(f"workers must be 1 or more; got {workers}")

    def lost(index: int, error: BaseException) -> Any:
        if on_lost is None:
            raise error
        return on_lost(index, error)

    if executor == "local" and (workers == 1 or len(items) <= 1):
        for index, item in enumerate(items):
            on_start(index)
            yield index, function(item)
    elif executor == "local":
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or CUDA state
        with concurrent.futures.ProcessPoolExecutor(min(workers, len(items)), mp_context=context) as pool:
            futures = {}
            for index, item in enumerate(items):
                on_start(index)
                futures[pool.submit(function, item)] = index
            for future in concurrent.futures.as_completed(futures):
                index = futures[future]
                try:
                    yield index, future.result()
                except Exception as error:  # a lost job is reported; the others carry on
                    yield index, lost(index, error)
    else:
        yield from _submitit(function, items, executor, folder, cluster or ClusterOptions(), lost, on_start)


def _submitit(function, items, executor, folder, cluster: ClusterOptions, lost, on_start
              ) -> Iterator[tuple[int, Any]]:
    import submitit

    if folder is None:
        raise InvalidInputError("the submitit executors need a folder for their logs: pass folder=")
    cluster_name = "slurm" if executor == "slurm" else "local"
    runner = submitit.AutoExecutor(folder=Path(folder) / ("%A_%a" if cluster_name == "slurm" else "%j"),
                                   cluster=cluster_name)
    runner.update_parameters(name="mmft_kit", **cluster.submitit_parameters())
    jobs = runner.map_array(function, list(items))
    for index in range(len(jobs)):
        on_start(index)
    for job in submitit.helpers.as_completed(jobs):
        index = jobs.index(job)
        try:
            yield index, job.result()
        except Exception as error:  # a lost job is reported; the others carry on
            yield index, lost(index, error)
