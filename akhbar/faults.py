"""Fault injection: kill this process at a named point, to prove crash safety with real kills.

Set ``AKHBAR_FAULT_AT=<point>`` (or ``<point>:<n>`` for the n-th time the point is reached) and the
process sends itself SIGKILL there — no cleanup handlers, no ``finally`` blocks, exactly like the
OOM killer or a pulled plug. Tests and the soak script use it; in normal runs it costs one dict
lookup per point.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

POINTS = (
    "after-read",  # a batch was read and prepared, nothing written
    "after-stage",  # staged Parquet files written, not yet audited
    "after-audit",  # audited, not yet committed
    "mid-commit",  # inside the publish transaction, some tables inserted
    "after-commit",  # committed, the run not yet marked finished
)
# Points of `akhbar reprocess` only (an ingest never reaches them, so they are not in POINTS).
REPROCESS_POINTS = (
    "before-swap",  # shadow warehouse built and verified, publish lock held, swap not begun
    "mid-swap",  # inside the swap transaction: every derived table replaced, not yet committed
)
# Inside a compaction's transaction: the table's files rewritten, not yet committed (a batch only
# reaches it when a table is due, so it is not in POINTS either).
COMPACT_POINTS = ("mid-compact",)
_hits: Counter[str] = Counter()


def fault_point(name: str) -> None:
    """Die here if the environment asks for it."""
    wanted = os.environ.get("AKHBAR_FAULT_AT")
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
