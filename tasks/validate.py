"""Validation with Great Expectations 1.x: suites are files in ``expectations/``, results are stored.

Why GX on pandas frames, not on DuckDB: GX 1.x cannot validate through a DuckDB SQL datasource (an
upstream bug), and a batch is small enough to hold in memory anyway. The GX context is a file
context inside the warehouse (``<warehouse>/gx``), so every validation result is kept and Data Docs
can be rebuilt for every run.

Each expectation has a *scope*: ``row`` failures name the rows that fail (they are quarantined and
the rest of the batch goes on); ``table`` failures (column set, uniqueness of ids) mean the batch is
wrong as a whole and must not be published. The scope comes from the expectation's ``meta.scope``,
or else from whether GX reported failing rows.

``great_expectations`` takes seconds to import, so it is imported lazily, inside the validator.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpectationFailure:
    expectation: str  # readable: type(column)
    scope: str  # row | table
    ids: tuple[str, ...]  # failing row ids (row scope)
    detail: str
    reason: str = ""  # the suite file's human reason (meta.reason)
    when: str = "always"  # "publish": only meaningful once duplicates are resolved (uniqueness)


@dataclass
class ValidationOutcome:
    suite: str
    success: bool
    evaluated: int
    failures: list[ExpectationFailure] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)

    def row_failures(self) -> dict[str, list[ExpectationFailure]]:
        """Failing row id → the row-scope expectations it failed."""
        out: dict[str, list[ExpectationFailure]] = defaultdict(list)
        for failure in self.failures:
            if failure.scope == "row":
                for row_id in failure.ids:
                    out[row_id].append(failure)
        return dict(out)

    def table_failures(self) -> list[ExpectationFailure]:
        return [f for f in self.failures if f.scope == "table"]


class ValidationError(RuntimeError):
    """A batch failed a table-level expectation: it is not published and the run fails."""

    def __init__(self, outcome: ValidationOutcome, failures: list[ExpectationFailure] | None = None):
        self.outcome = outcome
        self.failures = failures if failures is not None else outcome.table_failures()
        lines = [f"{f.expectation}: {f.detail}" for f in self.failures]
        super().__init__(f"suite {outcome.suite!r} failed: " + "; ".join(lines))


def load_suite_file(path: Path) -> dict[str, Any]:
    """Read a suite file and check its shape, so a typo fails with the file name in the message."""
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read expectation suite {path}: {exc}") from exc
    if not isinstance(suite.get("expectations"), list) or not suite.get("name"):
        raise ValueError(f"{path}: a suite needs a 'name' and a list of 'expectations'")
    for exp in suite["expectations"]:
        if "type" not in exp or "kwargs" not in exp:
            raise ValueError(f"{path}: every expectation needs 'type' and 'kwargs': {exp}")
    return suite


def _describe(exp_type: str, kwargs: dict[str, Any]) -> str:
    column = kwargs.get("column")
    return f"{exp_type}({column})" if column else exp_type


def _detail(result: dict[str, Any], kwargs: dict[str, Any]) -> str:
    if "unexpected_count" in result and result.get("unexpected_count"):
        sample = result.get("partial_unexpected_list") or []
        shown = ", ".join(repr(v)[:60] for v in sample[:3])
        return f"{result['unexpected_count']} unexpected value(s), e.g. {shown}"
    if "observed_value" in result:
        expected = {k: v for k, v in kwargs.items() if k not in ("column", "result_format")}
        return f"observed {str(result['observed_value'])[:200]}, expected {expected}"
    return "failed"


def _cache_config_values(context: Any) -> None:
    """Read the context's configuration variables once instead of at every store access.

    A file context re-reads and YAML-parses ``uncommitted/config_variables.yml`` (and copies the
    environment) each time it resolves a setting: ~470 times for two batches, about a tenth of
    the validation time. The values cannot change during a run. Left as is if GX's internals differ.
    """
    provider = getattr(context, "_config_provider", None)
    if provider is None or not callable(getattr(provider, "get_values", None)):
        return
    values = provider.get_values()
    provider.get_values = lambda: values


def _skip_frame_fingerprints() -> None:
    """Stop GX from hashing every validated frame.

    GX's pandas engine records an MD5 of each whole frame (``pandas_data_fingerprint``) as a batch
    marker whenever the frame is under ``HASH_THRESHOLD`` (1 GB): it hashes every value of every
    column, bodies included, only for the result's metadata, which nothing here reads. On SaudiNewsNet
    that hashing was 5.6 of the 20 s the publish audits took (py-spy). The check is
    ``size < HASH_THRESHOLD``, so a threshold of 0 hashes none. Left as is if GX's internals differ.
    """
    from great_expectations.execution_engine import pandas_execution_engine

    if isinstance(getattr(pandas_execution_engine, "HASH_THRESHOLD", None), (int, float)):
        pandas_execution_engine.HASH_THRESHOLD = 0


class Validator:
    """Runs the suites in ``expectations_dir`` against pandas frames; GX keeps its files in ``project_dir/gx``."""

    def __init__(self, project_dir: Path, expectations_dir: Path):
        import great_expectations as gx
        from filelock import FileLock

        self._gx = gx
        self.expectations_dir = Path(expectations_dir)
        project_dir.mkdir(parents=True, exist_ok=True)
        # Concurrent runs share one GX project: its stores are files that each run rewrites, so
        # every GX call holds this lock, and a run whose cached objects went stale rebuilds them.
        self._lock = FileLock(str(project_dir / ".gx.lock"), timeout=600)
        self._project_dir = project_dir
        self._checkpoints: dict[str, Any] = {}
        self._meta: dict[str, list[dict[str, Any]]] = {}
        self.history: list[tuple[str, ValidationOutcome]] = []  # (run name, outcome), for reports
        with self._lock:
            self._open_context()

    def _open_context(self) -> None:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = self._gx.get_context(mode="file", project_root_dir=str(self._project_dir))
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.context.variables.save()
        _cache_config_values(self.context)
        _skip_frame_fingerprints()
        self._datasource = self.context.data_sources.add_or_update_pandas("akhbar")
        self._checkpoints.clear()

    def _checkpoint(self, suite_name: str, id_column: str) -> Any:
        key = f"{suite_name}:{id_column}"
        if key in self._checkpoints:
            return self._checkpoints[key]
        gx = self._gx
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        spec = load_suite_file(self.expectations_dir / f"{suite_name}.json")
        suite = gx.ExpectationSuite(name=spec["name"], meta=spec.get("meta", {}))
        for exp in spec["expectations"]:
            suite.add_expectation_configuration(
                ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"], meta=exp.get("meta", {}))
            )
        suite = self.context.suites.add_or_update(suite)
        try:
            asset = self._datasource.get_asset(suite_name)
        except LookupError:
            asset = self._datasource.add_dataframe_asset(suite_name)
        try:
            batch_def = asset.get_batch_definition("batch")
        except (KeyError, LookupError):
            batch_def = asset.add_batch_definition_whole_dataframe("batch")
        vd = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite_name, data=batch_def, suite=suite)
        )
        checkpoint = self.context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=suite_name,
                validation_definitions=[vd],
                actions=[],
                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [id_column]},
            )
        )
        self._checkpoints[key] = checkpoint
        self._meta[suite_name] = spec["expectations"]
        return checkpoint

    def validate(self, suite_name: str, frame: pd.DataFrame, *, id_column: str, run_name: str,
                 parameters: dict[str, Any] | None = None) -> ValidationOutcome:
        """Validate ``frame`` against the suite file ``<suite_name>.json``; the result is stored."""
        from great_expectations.exceptions import GreatExpectationsError
        from great_expectations.exceptions.resource_freshness import ResourceFreshnessAggregateError

        with self._lock:
            for attempt in (1, 2):
                try:
                    checkpoint = self._checkpoint(suite_name, id_column)
                    result = checkpoint.run(
                        batch_parameters={"dataframe": frame},
                        expectation_parameters=parameters or {},
                        run_id=self._gx.RunIdentifier(run_name=run_name),
                    )
                    break
                except (GreatExpectationsError, ResourceFreshnessAggregateError):
                    if attempt == 2:
                        raise
                    self._open_context()  # another run replaced the stored suite/checkpoint
                finally:
                    self._forget_batches()
        outcome = self._outcome(suite_name, frame, id_column, result)
        self.history.append((run_name, outcome))
        return outcome

    def _forget_batches(self) -> None:
        """Drop the frames GX keeps after a validation.

        The pandas data source's execution engine caches every batch it loaded, by asset, until the
        next batch of that asset replaces it: one audited frame per table (candidates, articles,
        mentions...) stayed alive between batches and under the next batch's publish, ~70 MB of
        DataFrames and ~50 MB of their Arrow strings at a 5,000-article batch. Nothing reads a batch
        again. Left as is if GX's internals differ.
        """
        engine = getattr(self._datasource, "_execution_engine", None)
        manager = getattr(engine, "batch_manager", None)
        if manager is None or not callable(getattr(manager, "reset_batch_cache", None)):
            return
        manager.reset_batch_cache()
        cache = getattr(manager, "batch_data_cache", None)
        if isinstance(cache, dict):
            cache.clear()

    def _outcome(self, suite_name: str, frame: pd.DataFrame, id_column: str, result: Any) -> ValidationOutcome:
        declared = {(e["type"], json.dumps(e["kwargs"].get("column"))): e.get("meta", {}) for e in self._meta[suite_name]}
        failures: list[ExpectationFailure] = []
        stats: dict[str, Any] = {}
        for run_result in result.run_results.values():
            stats = dict(run_result.statistics)
            for r in run_result.results:
                if r.success:
                    continue
                cfg = r.expectation_config
                kwargs = dict(cfg.kwargs)
                meta = declared.get((cfg.type, json.dumps(kwargs.get("column"))), {})
                rows = r.result.get("unexpected_index_list")
                if r.exception_info and r.exception_info.get("raised_exception"):
                    scope, ids = "table", ()
                    detail = f"error: {r.exception_info.get('exception_message')}"
                else:
                    scope = meta.get("scope") or ("row" if rows is not None else "table")
                    ids = tuple(str(row[id_column]) for row in rows or ()) if scope == "row" else ()
                    detail = _detail(r.result, kwargs)
                failures.append(ExpectationFailure(_describe(cfg.type, kwargs), scope, ids, detail,
                                                   meta.get("reason", ""), meta.get("when", "always")))
        return ValidationOutcome(suite_name, not failures, len(frame), failures, stats)

    def build_docs(self) -> str:
        """Rebuild Data Docs from every stored result; returns the local index path."""
        with self._lock:
            self.context.build_data_docs()
        index = Path(self.context.root_directory) / "uncommitted" / "data_docs" / "local_site" / "index.html"
        return str(index)
