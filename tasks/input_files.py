"""Skip input files a completed run already accounted for, without parsing them.

A scheduled run over an inbox or an archive directory re-reads every file, although almost all of
them are unchanged: parsing 31,030 SaudiNewsNet records only to find each one known took ~10 s.
A file is skipped when the same path holds the same bytes (size, then BLAKE2b of the content) as
when a *completed* run read it; its records then count as skipped, as they would have been one by
one. Hashing reads the file once at disk speed; parsing is what costs. A run that dies records
nothing, so its files are read again next time (and their known records skipped one by one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from akhbar.tasks.ingest import RawRecord


def fingerprint(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class FileLedger:
    """What earlier runs accounted for (``known``) and what this run read in full (``read``)."""

    known: dict[str, tuple[int, str, int]] = field(default_factory=dict)  # path -> (size, fingerprint, records)
    read: dict[str, tuple[int, str, int]] = field(default_factory=dict)
    _decided: dict[str, int | None] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, int, str, int]]) -> FileLedger:
        return cls(known={path: (size, fp, records) for path, size, fp, records in rows})

    def known_records(self, path: Path) -> int | None:
        """Records of ``path`` if an earlier completed run read these exact bytes there, else None."""
        key = str(path.absolute())
        if key not in self._decided:
            self._decided[key] = self._check(path, key)
        return self._decided[key]

    def _check(self, path: Path, key: str) -> int | None:
        entry = self.known.get(key)
        if entry is None:
            return None
        try:
            if path.stat().st_size != entry[0] or fingerprint(path) != entry[1]:
                return None
        except OSError:
            return None
        return entry[2]

    def note_read(self, path: Path, records: int) -> None:
        """``path`` was read to the end and yielded ``records`` records."""
        try:
            self.read[str(path.absolute())] = (path.stat().st_size, fingerprint(path), records)
        except OSError:
            pass  # vanished or unreadable since: simply not remembered

    def rows(self) -> list[tuple[str, int, str, int]]:
        return [(path, size, fp, n) for path, (size, fp, n) in sorted(self.read.items())]


@dataclass
class FileFilter:
    """Hooks for the readers: ``skip`` decides per file, ``done`` hears of each file read in full."""

    skip: Callable[[Path], bool]
    done: Callable[[Path, int], None] = lambda path, n: None


def filtered(path: Path, records: Iterator[RawRecord], files: FileFilter | None) -> Iterator[RawRecord]:
    """``records`` of ``path`` unless the filter skips the file; tells the filter when it was read."""
    if files is None:
        yield from records
        return
    if files.skip(path):
        return
    n = 0
    for record in records:
        n += 1
        yield record
    files.done(path, n)
