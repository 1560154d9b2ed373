"""akhbar (أخبار): an Arabic-first news warehouse built on Prefect, Great Expectations and DuckLake.

Importing akhbar sets Prefect's offline, quiet defaults (no telemetry, no promotional content, the V1
UI that makes no external requests) unless the user has set them: akhbar must run on machines that
reach nothing but package registries.
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

_PREFECT_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    "PREFECT_SERVER_UI_V2_ENABLED": "false",
    # The first start of the temporary API server migrates its SQLite database: slow on a busy machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}
for _key, _value in _PREFECT_DEFAULTS.items():
    os.environ.setdefault(_key, _value)
