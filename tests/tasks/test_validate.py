"""The validator reads its configuration once per context, still fails what it should, and keeps no frame."""

from __future__ import annotations

import gc
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from akhbar.config import get_settings
from akhbar.tasks.validate import Validator
from akhbar.warehouse import publish as pub
from akhbar.warehouse.schema import QUARANTINE


def _frame(stage: str):
    row = {"raw_id": "r1", "location": "in.jsonl#1", "source_name": "in", "stage": stage, "expectation": None,
           "reason": "no body field", "quarantined_at": datetime.now(timezone.utc), "run_id": "run"}
    return pub.to_frame(QUARANTINE.from_rows([row]))


@pytest.fixture(scope="module")
def validator(tmp_path_factory: pytest.TempPathFactory) -> Validator:
    return Validator(tmp_path_factory.mktemp("gx"), get_settings().expectations_dir)


def test_configuration_variables_are_read_once(validator: Validator) -> None:
    provider = validator.context._config_provider
    assert provider.get_values() is provider.get_values()  # cached: not re-read from YAML each time


def test_a_bad_row_still_fails_after_many_validations(validator: Validator, tmp_path: Path) -> None:
    params = pub.suite_parameters(1)
    for i in range(3):
        good = validator.validate("quarantine", _frame("prepare"), id_column="raw_id", run_name=f"ok{i}",
                                  parameters=params)
        assert good.success, good.failures
    bad = validator.validate("quarantine", _frame("somewhere"), id_column="raw_id", run_name="bad",
                             parameters=params)
    assert not bad.success
    assert [f.expectation for f in bad.failures] == ["expect_column_values_to_be_in_set(stage)"]


def test_no_validated_frame_outlives_its_validation(validator: Validator) -> None:
    """GX's pandas engine caches each asset's last batch; a pipeline run then carried every audited
    frame of a batch (~120 MB at 5,000 articles) under the next batch's publish."""
    frame = _frame("prepare")
    frame.attrs["marker"] = "validated once"
    outcome = validator.validate("quarantine", frame, id_column="raw_id", run_name="forget",
                                 parameters=pub.suite_parameters(1))
    assert outcome.success, outcome.failures
    del frame
    gc.collect()
    # type(), not isinstance(): the latter reads __class__ of every object, and some (torch's
    # deprecated aliases) warn when touched
    left = [o for o in gc.get_objects() if type(o) is pd.DataFrame and o.attrs.get("marker") == "validated once"]
    assert not left


def test_validated_frames_are_not_fingerprinted(validator: Validator, monkeypatch: pytest.MonkeyPatch) -> None:
    """GX would MD5 every value of each frame for a batch marker nothing reads (5.6 s on SaudiNewsNet)."""
    from great_expectations.execution_engine import pandas_execution_engine

    hashed: list[int] = []
    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", lambda df: hashed.append(len(df)) or "x")
    outcome = validator.validate("quarantine", _frame("prepare"), id_column="raw_id", run_name="unhashed",
                                 parameters=pub.suite_parameters(1))
    assert outcome.success, outcome.failures
    assert hashed == []
