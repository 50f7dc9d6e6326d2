"""Delimited text (CSV exports, archive files, weekly archive members) -> raw chunks.

The delimiter (``;``, ``,``, tab or ``|``) is sniffed from the header line; a UTF-8 BOM, CRLF
line ends and gzip compression are handled transparently; bytes that are not UTF-8 fall back to
cp1252. Only known columns are parsed (pandas' C engine, in chunks, so memory stays bounded);
lines with too many fields are quarantined (``bad_field_count``) rather than dropped.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import re
import warnings
from collections.abc import Callable, Iterator
from typing import IO, cast

import numpy as np
import pandas as pd

from infotrafic.etl._labels import FIELDS, describe_columns, map_columns
from infotrafic.exceptions import FileFormatError

__all__ = ["CsvLayout", "iter_csv_chunks", "sniff_csv"]

Opener = Callable[[], IO[bytes]]

_HEAD_BYTES = 1 << 16
_SEPARATORS = (";", ",", "\t", "|")
_STR_FIELDS = (
    "t_1h",
    "libelle",
    "iu_nd_amont",
    "libelle_nd_amont",
    "iu_nd_aval",
    "libelle_nd_aval",
    "geo_point_2d",
    "geo_shape",
    "date_debut",
    "date_fin",
)
_SKIPPED = re.compile(r"[Ss]kipping line (\d+)")
CHUNK_ROWS = 500_000


class CsvLayout:
    """What :func:`sniff_csv` learnt from a header: encoding, delimiter, column positions."""

    def __init__(
        self,
        encoding: str,
        sep: str,
        labels: list[str],
        positions: dict[str, int],
        *,
        header: bool = True,
    ) -> None:
        self.encoding = encoding
        self.sep = sep
        self.labels = labels
        self.positions = positions
        self.header = header

    @property
    def regime(self) -> str:
        """``csv:labels`` (French labels), ``csv:fields`` (raw names) or ``csv:headerless``."""
        if not self.header:
            return "csv:headerless"
        first = self.labels[self.positions["t_1h"]] if "t_1h" in self.positions else ""
        return "csv:fields" if first.strip().lower() in ("t_1h", "time") else "csv:labels"


# Field orders of files written without a header line, keyed by (field count, time position):
# the historical archive's order and the live dataset's order.
_HEADERLESS: dict[tuple[int, int], tuple[str, ...]] = {
    (11, 6): (
        "iu_ac",
        "libelle",
        "iu_nd_amont",
        "libelle_nd_amont",
        "iu_nd_aval",
        "libelle_nd_aval",
        "t_1h",
        "q",
        "k",
        "etat_trafic",
        "etat_barre",
    ),
}
_HEADERLESS.update({(n, 2): FIELDS[:n] for n in range(6, len(FIELDS) + 1)})
_TIME_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _headerless_layout(header: str, sep: str, encoding: str) -> CsvLayout | None:
    """Recognise a first line that is already a record of a known field order."""
    cells = next(csv.reader([header], delimiter=sep))
    times = [i for i, c in enumerate(cells) if _TIME_LIKE.match(c.strip())]
    if not times or not cells[0].strip().isdigit():
        return None
    order = _HEADERLESS.get((len(cells), times[0]))
    if order is None:
        return None
    positions = {field: i for i, field in enumerate(order)}
    return CsvLayout(encoding, sep, [f"c{i}" for i in range(len(cells))], positions, header=False)


def open_maybe_gzip(path: str) -> IO[bytes]:
    """Open a file for binary reading, decompressing gzip transparently."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def _decode_head(head: bytes) -> tuple[str, str]:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", head[3:].decode("utf-8", errors="replace")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        return "utf-8", decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252", head.decode("cp1252", errors="replace")


def sniff_csv(head: bytes, name: str, *, require_time: bool = True) -> CsvLayout:
    """Learn encoding, delimiter and column positions from the first bytes of a text file.

    Parameters
    ----------
    head : bytes
        The first bytes of the (decompressed) file.
    name : str
        The file name, for error messages.
    require_time : bool, default True
        Require the arc, time and flow-or-occupancy columns (panel files); when False only the
        arc column is required (the referentiel).

    Returns
    -------
    CsvLayout
        The layout.

    Raises
    ------
    FileFormatError
        When the header has no known delimiter or lacks a required column.
    """
    encoding, text = _decode_head(head)
    lines = text.splitlines()
    header = lines[0] if lines else ""
    counts = {sep: header.count(sep) for sep in _SEPARATORS}
    sep = max(counts, key=lambda s: counts[s])
    if counts[sep] == 0:
        raise FileFormatError(
            "not a recognisable traffic file: the first line has no ';', ',', tab or '|' "
            f"delimiter (first line: {header[:120]!r}); expected a CSV export, an archive file, "
            "JSON, JSONL, Parquet or a ZIP archive",
            file=name,
            line=1,
        )
    labels = next(csv.reader([header], delimiter=sep))
    positions = map_columns(labels)
    if not positions:
        headerless = _headerless_layout(header, sep, encoding)
        if headerless is not None:
            return headerless
    required = ("iu_ac", "t_1h") if require_time else ("iu_ac",)
    missing = [f for f in required if f not in positions]
    if require_time and not missing and "q" not in positions and "k" not in positions:
        missing = ["q"]
    if missing:
        hint = (
            "; this looks like the arc referentiel: read it with infotrafic.etl.read_arcs"
            if require_time and "iu_ac" in positions and "geo_shape" in positions
            else ""
        )
        raise FileFormatError(
            f"missing column(s) {missing} (the arc id 'iu_ac'/'Identifiant arc', the end-of-hour "
            "time 't_1h'/'Date et heure de comptage' and the flow 'q'/'Débit horaire' or "
            f"occupancy 'k'); columns found: {describe_columns(labels)}{hint}",
            file=name,
            line=1,
            field=missing[0],
        )
    return CsvLayout(encoding, sep, labels, positions)


def _line_numbers(start: int, count: int, skipped: list[int]) -> tuple[np.ndarray, int]:
    """Lines of ``count`` parsed rows starting at physical line ``start``, around skipped lines."""
    lines = np.empty(count, dtype="int64")
    pos, line = 0, start
    for bad in sorted(s for s in skipped if s >= start):
        take = min(bad - line, count - pos)
        if take > 0:
            lines[pos : pos + take] = np.arange(line, line + take)
            pos += take
        line = bad + 1
        if pos >= count:
            break
    if pos < count:
        lines[pos:] = np.arange(line, line + count - pos)
    next_line = int(lines[-1]) + 1 if count else line
    return lines, next_line


def iter_csv_chunks(
    opener: Opener,
    layout: CsvLayout,
    name: str,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[tuple[pd.DataFrame, np.ndarray, list[int]]]:
    """Yield ``(raw chunk, line numbers, skipped lines)`` for a delimited text file.

    Parameters
    ----------
    opener : callable
        Returns a fresh binary stream of the (decompressed) file.
    layout : CsvLayout
        From :func:`sniff_csv`.
    name : str
        The file name, for error messages.
    chunk_rows : int
        Rows per chunk.

    Yields
    ------
    tuple
        The raw chunk (columns = raw field names), the 1-based line number of each row, and the
        lines skipped because they had too many fields.
    """
    fields = sorted(layout.positions, key=lambda f: layout.positions[f])
    all_names = [f"c{i}" for i in range(len(layout.labels))]
    usecols = [f"c{layout.positions[f]}" for f in fields]
    rename = {f"c{layout.positions[f]}": f for f in fields}
    dtype = {f"c{layout.positions[f]}": str for f in fields if f in _STR_FIELDS or f == "_geo_lon"}
    next_line = 2 if layout.header else 1
    with opener() as raw_stream:
        stream = raw_stream
        try:
            reader = pd.read_csv(
                stream,
                sep=layout.sep,
                header=0 if layout.header else None,
                names=all_names,
                usecols=usecols,
                dtype=dtype,
                encoding=layout.encoding,
                encoding_errors="replace",
                skip_blank_lines=False,
                on_bad_lines="warn",
                chunksize=chunk_rows,
                engine="c",
                low_memory=False,
            )
            with reader:
                while True:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        try:
                            frame = next(reader)
                        except StopIteration:
                            break
                    skipped = [int(m) for w in caught for m in _SKIPPED.findall(str(w.message))]
                    frame = frame.rename(columns=rename)
                    lines, next_line = _line_numbers(next_line, len(frame), skipped)
                    blank = frame.iloc[:, 0].isna().to_numpy()
                    if blank.any():
                        blank[blank] = frame.loc[blank].isna().all(axis=1).to_numpy()
                    if blank.any():
                        frame, lines = frame.loc[~blank], lines[~blank]
                    yield frame, lines, skipped
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise FileFormatError(
                f"cannot parse as delimited text ({exc}); expected a '{layout.sep}'-separated "
                "file with one record per line",
                file=name,
            ) from exc
