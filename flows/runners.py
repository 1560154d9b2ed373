"""Where batch analysis runs: inline, in a local process pool, or on a Dask cluster.

The flow submits each batch's analysis (prepare + entity tagging, a pure function of the records)
as a Prefect task and keeps a few batches in flight while it publishes earlier ones. What executes
the task is chosen by settings (``task_runner``):

* ``inline``: in the flow's thread. No start-up cost; right for a handful of records.
* ``process``: the Prefect task runs in a thread of the flow's process (so it shows in the UI with
  its own duration) and hands the CPU work to a local ``ProcessPoolExecutor``; a batch is split into
  chunks of at most ``CHUNK_RECORDS`` (and at least one per worker) so even a single batch uses
  every core, and a worker's memory follows the chunk, not the batch. Workers load the models once.
  Prefect's own ``ProcessPoolTaskRunner`` is not used: each of its workers starts a private
  temporary Prefect server when no server is configured (measured: 15 s before the first task).
* ``dask``: prefect-dask's ``DaskTaskRunner`` on ``dask_address`` or a local cluster; the task runs
  on a Dask worker, which must reach the same Prefect API (a Prefect server in production).
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from prefect import task
from prefect.cache_policies import NO_CACHE

from akhbar.config import Settings
from akhbar.tasks.analyse import (Analysis, AnalysisConfig, analyse_chunk, analyse_records, merge_analyses,
                                  warm_worker)
from akhbar.tasks.ingest import RawRecord


class ResultLike(Protocol):
    def result(self) -> Any: ...


class Sealed:
    """Holds a task argument where Prefect and Dask do not look inside it.

    Prefect walks every task argument recursively (measured: 63 s of a 110 s run on a 3,000-record
    batch); ``quote`` prevents that, but prefect-dask turns a quoted value into a plain tuple on the
    way to the worker. A plain object is passed through as it is by both.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


@task(name="analyse batch", task_run_name="analyse batch {batch_no}", cache_policy=NO_CACHE)
def analyse_batch(work: Sealed, batch_no: int, pool: Sealed | None = None, chunks: int = 1) -> Analysis:
    """Prepare and entity-tag one batch, in ``chunks`` pieces on ``pool`` when one is given."""
    config, records = work.value
    return _analyse(config, records, pool.value if pool else None, chunks)


# Records a worker analyses at once. A worker's peak memory grows with its chunk (2,500 SaudiNewsNet
# records took it from 220 MB to 510 MB) and Python does not hand freed memory back to the system.
CHUNK_RECORDS = 1000


def _analyse(config: AnalysisConfig, records: list[RawRecord], pool: Executor | None, chunks: int) -> Analysis:
    if pool is None or chunks <= 1 or len(records) < 2:
        return analyse_records(records, config)
    size = chunk_size(len(records), chunks)
    futures = [pool.submit(analyse_chunk, records[i:i + size], config) for i in range(0, len(records), size)]
    return merge_analyses([f.result() for f in futures])


def chunk_size(records: int, workers: int) -> int:
    """Records per chunk: at most ``CHUNK_RECORDS``, in a number of chunks that is a multiple of
    ``workers``, so that the workers finish a batch together. Why: 5,000 records in chunks of 1,000
    give one worker three chunks and the other two, so the flow waits a chunk longer for the batch
    and, after the last batch, one core idles while the other finishes its third chunk."""
    rounds = math.ceil(math.ceil(records / CHUNK_RECORDS) / workers)
    return max(1, math.ceil(records / (rounds * workers)))


@dataclass
class _Done:
    value: Any

    def result(self) -> Any:
        return self.value


@dataclass
class BatchRunner:
    """Submits batch analyses; ``window`` is how many may be in flight at once."""

    kind: str
    window: int
    runner: Any = None
    pool: Executor | None = None
    chunks: int = 1

    def submit(self, config: AnalysisConfig, records: Sequence[RawRecord], batch_no: int) -> ResultLike:
        params: dict[str, Any] = {"work": Sealed((config, list(records))), "batch_no": batch_no}
        if self.runner is None:
            return _Done(analyse_batch(**params))
        if self.pool is not None:
            params.update(pool=Sealed(self.pool), chunks=self.chunks)
        return self.runner.submit(analyse_batch, params)


def worker_count(settings: Settings) -> int:
    return settings.workers or os.cpu_count() or 1


def choose_kind(settings: Settings, new_records: int | None) -> str:
    """``auto`` → ``process`` when the run is big enough to repay starting workers."""
    if settings.task_runner != "auto":
        return settings.task_runner
    if new_records is None or new_records < settings.parallel_min_records or worker_count(settings) < 2:
        return "inline"
    return "process"


class WorkerPool:
    """The run's local worker processes, started on first use and shut down with the run.

    One pool serves the CPU-heavy steps of a run, so both cores work in each and the models load
    once: the template warm-up (which used to keep one core idle for 13 s on SaudiNewsNet) and batch
    analysis. It is shut down once the last batch is analysed. ``config`` gives the workers what
    they preload; ``reference`` the pickled reference linker they start from (built once, here).
    """

    def __init__(self, settings: Settings, config: Callable[[], AnalysisConfig],
                 reference: Callable[[], bytes] | None = None) -> None:
        self.settings = settings
        self._config = config
        self._reference = reference
        self._pool: ProcessPoolExecutor | None = None

    def usable(self, new_records: int | None) -> bool:
        """True when a run with ``new_records`` new records (so far) analyses in this pool."""
        return choose_kind(self.settings, new_records) == "process"

    @property
    def started(self) -> bool:
        return self._pool is not None

    def get(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")  # no fork of a process holding DuckDB and threads
            self._pool = ProcessPoolExecutor(worker_count(self.settings), mp_context=ctx, initializer=warm_worker,
                                             initargs=(self._config(), self._reference and self._reference()))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


@contextmanager
def batch_runner(settings: Settings, new_records: int | None, workers: WorkerPool) -> Iterator[BatchRunner]:
    """The runner for this run's batches; a Dask cluster is shut down when the batches are done."""
    kind = choose_kind(settings, new_records)
    if kind == "inline":
        yield BatchRunner("inline", window=1)
        return
    from prefect.task_runners import ThreadPoolTaskRunner

    if kind == "process":
        with ThreadPoolTaskRunner(max_workers=2) as runner:
            yield BatchRunner("process", window=2, runner=runner, pool=workers.get(), chunks=worker_count(settings))
        return
    from prefect_dask import DaskTaskRunner

    dask = (DaskTaskRunner(address=settings.dask_address) if settings.dask_address
            else DaskTaskRunner(cluster_kwargs={"n_workers": worker_count(settings), "processes": False,
                                                "dashboard_address": None}))
    with dask as runner:
        yield BatchRunner("dask", window=worker_count(settings) + 1, runner=runner)

