"""All of akhbar's settings in one place: documented defaults, overridden by ``AKHBAR_*`` variables.

Every knob a user may need lives here so that the CLI, the Prefect flows and the tests read the same
values. Precedence: explicit argument (CLI flag / flow parameter) > environment variable > default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """akhbar settings; each field can be set as ``AKHBAR_<FIELD>`` (e.g. ``AKHBAR_WAREHOUSE``)."""

    model_config = SettingsConfigDict(env_prefix="AKHBAR_", extra="ignore")

    warehouse: Path = Field(
        default=PROJECT_ROOT / "var" / "warehouse",
        description="Warehouse directory: DuckLake catalog, Parquet data files, Data Docs, staging.",
    )
    expectations_dir: Path = Field(
        default=PROJECT_ROOT / "expectations",
        description="Directory holding the Great Expectations suites, one JSON file per table.",
    )
    seeds_dir: Path = Field(
        default=PROJECT_ROOT / "seeds",
        description="The embedded default input and the hand-reviewed reference data.",
    )
    batch_size: int = Field(
        default=5000,
        ge=1,
        description="Records per batch. A batch is cleaned, validated and published atomically; "
        "memory grows with it, Prefect overhead shrinks with it.",
    )
    max_record_bytes: int = Field(
        default=20_000_000,
        ge=1,
        description="A single record (a text file, a JSON object, a JSONL line) larger than this is "
        "quarantined instead of being read into memory.",
    )
    max_file_bytes: int = Field(
        default=2_000_000_000,
        ge=1,
        description="A JSON document (not JSONL) or a zip member larger than this is quarantined: "
        "JSON arrays must be parsed whole, so this bounds memory.",
    )
    min_body_chars: int = Field(
        default=1,
        ge=0,
        description="Shortest body (after cleaning) that may be published; shorter ones are "
        "quarantined by the articles expectation suite.",
    )
    publish_lock_timeout_s: float = Field(
        default=600.0,
        description="How long a run waits for another run's publish to finish before failing.",
    )
    task_runner: Literal["auto", "inline", "process", "dask"] = Field(
        default="auto",
        description="Where batches are analysed (prepare + entity tagging): 'inline' in the flow's process; "
        "'process' in a local pool of `workers` processes; 'dask' on a Dask cluster through prefect-dask "
        "(dask_address, or a local cluster); 'auto' = 'process' when a run has at least parallel_min_records "
        "new records, else 'inline'. Dedup, linking and publishing always stay in the flow's process.",
    )
    workers: int = Field(
        default=0,
        ge=0,
        description="Worker processes for task_runner='process' (0 = one per CPU core).",
    )
    parallel_min_records: int = Field(
        default=1000,
        ge=0,
        description="With task_runner='auto', runs with fewer new records than this stay inline: starting "
        "worker processes (about 2 s each) does not pay off for a handful of articles.",
    )
    dask_address: str | None = Field(
        default=None,
        description="Scheduler address (tcp://host:8786) for task_runner='dask'; unset = a local Dask cluster.",
    )
    timezone: str = Field(
        default="Asia/Riyadh",
        description="Time zone assumed for dates that carry none (most Arabic outlets publish "
        "local time).",
    )
    near_duplicate_threshold: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Jaccard similarity (3-word shingles of the matching key) from which two articles "
        "are near-duplicates and share a cluster_id.",
    )
    compact_deleted_fraction: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="After a batch, a table whose deleted rows make up at least this share of its data "
        "files is compacted (its files with that share rewritten without them): the gold tables' "
        "per-batch refresh deletes rows, and DuckLake rewrites every file's accumulated deletes at each "
        "DELETE. Past snapshots stay readable. 0 turns it off. See docs/decisions.md.",
    )
    search_index: bool = Field(
        default=True,
        description="Refresh the Arabic full-text search index (<warehouse>/search.duckdb) after each run.",
    )
    build_data_docs: bool = Field(default=True, description="Build GX Data Docs after each run.")
    allow_private_fetch: bool = Field(
        default=False,
        description="Let feeds and article pages be fetched from private, loopback and link-local "
        "addresses (intranet sources, tests). Off by default: a feed item must not make the pipeline "
        "call the Prefect API or a cloud metadata service.",
    )
    ner_backend: Literal["crf", "transformer"] = Field(
        default="crf",
        description="Arabic NER: 'crf' is the shipped CRF (no extra dependency); 'transformer' runs a local "
        "Hugging Face token-classification model from ner_model_path (needs the 'transformer' extra: torch, "
        "transformers). See docs/ner_backends.md.",
    )
    ner_model_path: Path | None = Field(
        default=None,
        description="Directory of the token-classification model used when ner_backend='transformer' "
        "(config.json, weights, tokenizer.json). Read from disk only: nothing is ever downloaded.",
    )
    english_ner: bool = Field(
        default=True,
        description="Tag English articles with spaCy's en_core_web_sm (PER/LOC/ORG); off, they get "
        "gazetteer-only mentions as other non-Arabic articles do.",
    )
    pipeline_version: str | None = Field(
        default=None,
        description="The version stamped on every derived row (and on runs). Default: akhbar's own version. "
        "Set it when cleaning, entity code or a model changes without a new akhbar release (e.g. a locally "
        "trained NER model), then run `akhbar reprocess`.",
    )


def current_pipeline_version() -> str:
    """The version that produced a run's rows: ``AKHBAR_PIPELINE_VERSION`` or akhbar's ``__version__``.

    Read when a run starts, not at import, so a long-lived process (``akhbar serve``) and the tests
    see a changed setting; reading ``akhbar.__version__`` through the module keeps it patchable.
    """
    import akhbar

    return get_settings().pipeline_version or akhbar.__version__


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (``None`` values are ignored)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
