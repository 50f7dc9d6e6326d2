"""Typed results of the readers: :class:`ReadResult`, :class:`ReadReport`, :class:`FileReport`."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["FileReport", "ReadReport", "ReadResult"]


@dataclass(frozen=True)
class FileReport:
    """Counts for one input file.

    Every row read ends in exactly one place::

        rows_read == rows_loaded + n_quarantined + dst_nonexistent_empty + duplicates

    Attributes
    ----------
    file : str
        The file (as given).
    regime : str
        Detected regime: ``csv:labels`` (live export), ``csv:fields`` (archive / raw names),
        ``json:v2.1-records``, ``json:v1-search``, ``json:list``, ``jsonl``, ``parquet``,
        ``zip:archive``.
    rows_read : int
        Data rows (records) read, blank lines excluded.
    rows_loaded : int
        Rows in the panel after deduplication.
    quarantined : Mapping[str, int]
        Rejected rows by reason (``bad_arc_id``, ``bad_time``, ``bad_flow``, ``dst_nonexistent``,
        ``bad_field_count``, ...).
    dst_nonexistent_empty : int
        Empty rows stamped with the non-existent spring-forward hour, dropped by policy.
    dst_ambiguous : int
        Loaded naive rows stamped with the ambiguous fall-back hour (resolved by policy).
    duplicates : int
        Extra rows for an already seen ``(arc_id, time)`` removed by the duplicate policy.
    conflicts : int
        Removed duplicates whose non-null flow or occupancy differed from the kept row's.
    time_regimes : Mapping[str, int]
        Rows per timestamp regime (``offset``, ``naive``, ``serial``, ``datetime``).
    unknown_codes : Mapping[str, int]
        State values that matched no known code, by column (kept as ``<NA>``).
    members : int
        Files read inside a ZIP archive (1 otherwise).
    """

    file: str
    regime: str
    rows_read: int = 0
    rows_loaded: int = 0
    quarantined: Mapping[str, int] = field(default_factory=dict)
    dst_nonexistent_empty: int = 0
    dst_ambiguous: int = 0
    duplicates: int = 0
    conflicts: int = 0
    time_regimes: Mapping[str, int] = field(default_factory=dict)
    unknown_codes: Mapping[str, int] = field(default_factory=dict)
    members: int = 1

    @property
    def n_quarantined(self) -> int:
        """Total rows quarantined."""
        return int(sum(self.quarantined.values()))

    def to_dict(self) -> dict[str, object]:
        """Return the counts as a JSON-ready dict."""
        return {
            "file": self.file,
            "regime": self.regime,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "quarantined": dict(sorted(self.quarantined.items())),
            "n_quarantined": self.n_quarantined,
            "dst_nonexistent_empty": self.dst_nonexistent_empty,
            "dst_ambiguous": self.dst_ambiguous,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "time_regimes": dict(sorted(self.time_regimes.items())),
            "unknown_codes": dict(sorted(self.unknown_codes.items())),
            "members": self.members,
        }


@dataclass(frozen=True)
class ReadReport:
    """Counts for a read of one or more files.

    Attributes
    ----------
    files : tuple of FileReport
        One report per input file, in reading order.
    merge_duplicates : int
        Rows removed when merging files (the same ``(arc_id, time)`` in several files).
    merge_conflicts : int
        Of those, rows whose non-null flow or occupancy differed from the kept row's.
    """

    files: tuple[FileReport, ...] = ()
    merge_duplicates: int = 0
    merge_conflicts: int = 0

    @property
    def rows_read(self) -> int:
        """Rows read over all files."""
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        """Rows in the merged panel."""
        return sum(f.rows_loaded for f in self.files) - self.merge_duplicates

    @property
    def n_quarantined(self) -> int:
        """Rows quarantined over all files."""
        return sum(f.n_quarantined for f in self.files)

    @property
    def quarantined(self) -> dict[str, int]:
        """Rows quarantined by reason, over all files."""
        out: dict[str, int] = {}
        for f in self.files:
            for reason, count in f.quarantined.items():
                out[reason] = out.get(reason, 0) + count
        return dict(sorted(out.items()))

    @property
    def duplicates(self) -> int:
        """Duplicates removed, within and across files."""
        return sum(f.duplicates for f in self.files) + self.merge_duplicates

    @property
    def conflicts(self) -> int:
        """Conflicting duplicates, within and across files."""
        return sum(f.conflicts for f in self.files) + self.merge_conflicts

    @property
    def dst_nonexistent_empty(self) -> int:
        """Empty spring-forward rows dropped by policy, over all files."""
        return sum(f.dst_nonexistent_empty for f in self.files)

    @property
    def dst_ambiguous(self) -> int:
        """Naive fall-back rows resolved by policy, over all files."""
        return sum(f.dst_ambiguous for f in self.files)

    def to_frame(self) -> pd.DataFrame:
        """Return one row per file with its counts.

        Returns
        -------
        pandas.DataFrame
            Columns file, regime, rows_read, rows_loaded, n_quarantined, dst_nonexistent_empty,
            dst_ambiguous, duplicates, conflicts.

        Examples
        --------
        >>> ReadReport((FileReport("a.csv", "csv:fields", rows_read=3, rows_loaded=3),)
        ...            ).to_frame()[["file", "rows_loaded"]].to_dict("records")
        [{'file': 'a.csv', 'rows_loaded': 3}]
        """
        cols = [
            "file",
            "regime",
            "rows_read",
            "rows_loaded",
            "n_quarantined",
            "dst_nonexistent_empty",
            "dst_ambiguous",
            "duplicates",
            "conflicts",
        ]
        rows = [{c: f.to_dict()[c] for c in cols} for f in self.files]
        return pd.DataFrame(rows, columns=cols)

    def to_json(self) -> str:
        """Return the report as a JSON string (per file, plus merge counts)."""
        return json.dumps(
            {
                "files": [f.to_dict() for f in self.files],
                "merge_duplicates": self.merge_duplicates,
                "merge_conflicts": self.merge_conflicts,
                "rows_read": self.rows_read,
                "rows_loaded": self.rows_loaded,
            },
            indent=2,
        )

    def to_text(self) -> str:
        """Return a short human-readable summary, one line per file."""
        lines = []
        for f in self.files:
            quarantine = ", ".join(f"{k} {v}" for k, v in sorted(f.quarantined.items()))
            lines.append(
                f"{f.file} [{f.regime}]: read {f.rows_read}, loaded {f.rows_loaded}, "
                f"quarantined {f.n_quarantined}{f' ({quarantine})' if quarantine else ''}, "
                f"duplicates {f.duplicates} (conflicts {f.conflicts}), "
                f"DST empty dropped {f.dst_nonexistent_empty}, ambiguous {f.dst_ambiguous}"
            )
        if len(self.files) > 1:
            lines.append(
                f"merge: duplicates {self.merge_duplicates} (conflicts {self.merge_conflicts}); "
                f"total loaded {self.rows_loaded}"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class ReadResult:
    """What a reader returns.

    Attributes
    ----------
    panel : pandas.DataFrame
        Canonical panel (validated, sorted, no duplicated ``(arc_id, time)``).
    arcs : pandas.DataFrame
        Arcs table (:data:`~infotrafic.ARC_COLUMNS`), one row per arc seen.
    quarantine : pandas.DataFrame
        Rejected rows: file, line (1-based), field, reason, raw (the offending text).
    report : ReadReport
        Counts per file.
    """

    panel: pd.DataFrame
    arcs: pd.DataFrame
    quarantine: pd.DataFrame
    report: ReadReport


_logger = logging.getLogger("infotrafic.etl")


def log_read(name: str, kind: str, rows: int, quarantined: int) -> None:
    """Log one file read (INFO on ``infotrafic.etl``): its name, kind and counts."""
    _logger.info("%s (%s): %d panel rows, %d quarantined", name, kind, rows, quarantined)
