"""Golden files for cleaning: tests/golden/clean/<name>.txt (a scrape) + <name>.json (expected).

Each expected file holds the title, the body paragraphs and every removed line with its reason;
a case with an empty title, no paragraphs or a missing key fails, so a golden file cannot
silently stop checking something. Regenerate after an intended change with
``AKHBAR_UPDATE_GOLDEN=1 pytest tests/tasks/test_golden_clean.py`` and review the diff.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest

from akhbar.tasks.clean import clean_article

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "clean"
CASES = sorted(p.stem for p in GOLDEN.glob("*.txt"))


def _as_record(text: str) -> dict[str, object]:
    article = clean_article(None, text)
    return {
        "title": article.title,
        "paragraphs": article.body.split("\n\n") if article.body else [],
        "removed": [[r.text, r.reason] for r in article.removed],
    }


def _dump(record: dict[str, object]) -> str:
    return json.dumps(record, ensure_ascii=False, indent=2) + "\n"


def test_there_are_golden_cases() -> None:
    assert "synthetic_seed_shape" in CASES


@pytest.mark.parametrize("name", CASES)
def test_golden_clean(name: str) -> None:
    actual = _as_record((GOLDEN / f"{name}.txt").read_text(encoding="utf-8"))
    expected_path = GOLDEN / f"{name}.json"
    if os.environ.get("AKHBAR_UPDATE_GOLDEN") == "1":
        expected_path.write_text(_dump(actual), encoding="utf-8")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert set(expected) == {"title", "paragraphs", "removed"}, f"{name}.json: missing or extra keys"
    assert expected["title"] and expected["paragraphs"], f"{name}.json: empty title or body"
    if actual != expected:
        diff = difflib.unified_diff(
            _dump(expected).splitlines(), _dump(actual).splitlines(), "expected", "actual", lineterm=""
        )
        pytest.fail(f"golden case {name} differs:\n" + "\n".join(diff))
