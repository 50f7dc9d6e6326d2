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
import io
import re
import warnings
from collections.abc import Callable, Collection, Iterator
from typing import IO, cast

import numpy as np
import pandas as pd

from infotrafic._fields import (
    ARCHIVE_ORDER,
    FIELD_LABELS,
    FIELD_TABLE,
    FIELDS,
    META_FIELDS,
    TEXT_FIELDS,
    describe_columns,
    map_columns,
)
from infotrafic.etl._dedupe import last_positions
from infotrafic.exceptions import FileFormatError

__all__ = ["CsvLayout", "iter_csv_chunks", "sniff_csv"]

Opener = Callable[[], IO[bytes]]

_HEAD_BYTES = 1 << 16
_SEPARATORS = (";", ",", "\t", "|")
_SKIPPED = re.compile(r"[Ss]kipping line (\d+)")
CHUNK_ROWS = 500_000
_META = frozenset(META_FIELDS)
_TYPES = {f.name: f.type for f in FIELD_TABLE}


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
    (len(ARCHIVE_ORDER), ARCHIVE_ORDER.index("t_1h")): ARCHIVE_ORDER
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
            f"missing column(s) {missing} (the arc id {_spelled('iu_ac')}, the end-of-hour "
            f"time {_spelled('t_1h')} and the flow {_spelled('q')} or occupancy 'k'); columns "
            f"found: {describe_columns(labels)}{hint}",
            file=name,
            line=1,
            field=missing[0],
        )
    return CsvLayout(encoding, sep, labels, positions)


def _spelled(field: str) -> str:
    """Return a field's raw name and its label, quoted, for error messages."""
    return f"'{field}'/'{FIELD_LABELS[field]}'"


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
    damaged: list[pd.DataFrame] | None = None,
    last_meta: bool = False,
) -> Iterator[tuple[pd.DataFrame, np.ndarray, list[int]]]:
    """Yield ``(raw chunk, line numbers, skipped lines)`` for a delimited text file.

    UTF-8 text is cut into blocks of whole lines (about ``chunk_rows`` rows each, never inside a
    quoted field) and each block is parsed by pyarrow's CSV reader with explicit column types
    (the state columns as integers while they hold codes, as text from the first block with a
    label on); a block that reader refuses (a value that is not a number, a line with too many
    fields, blank lines) is parsed again by pandas' C engine, which keeps the bad values for the
    quarantine. Other encodings are parsed by pandas throughout.

    Parameters
    ----------
    opener : callable
        Returns a fresh binary stream of the (decompressed) file.
    layout : CsvLayout
        From :func:`sniff_csv`.
    name : str
        The file name, for error messages.
    chunk_rows : int
        Rows per chunk (approximately, for UTF-8 text).
    damaged : list of pandas.DataFrame, optional
        When given, a block that neither parser can read is quarantined there (one row per
        line, reason ``damaged_chunk``) and reading goes on; otherwise it raises.
    last_meta : bool, default False
        Fill the arc metadata columns (``libelle``, nodes, ...) only where
        :func:`~infotrafic.etl._normalize.normalize_chunk` looks: on the last row of each arc
        in the chunk (the whole column when one of those cells is empty). Parsing those text
        columns costs more than all the others together, and they repeat on every row.

    Yields
    ------
    tuple
        The raw chunk (columns = raw field names), the 1-based line number of each row, and the
        lines skipped because they had too many fields.

    Raises
    ------
    FileFormatError
        When a block cannot be parsed (and ``damaged`` is None).
    """
    if layout.encoding not in ("utf-8", "utf-8-sig"):
        yield from _iter_pandas_stream(opener, layout, name, chunk_rows=chunk_rows)
        return
    fields = sorted(layout.positions, key=lambda f: layout.positions[f])
    block_bytes = max(chunk_rows, 1) * _BYTES_PER_ROW
    # state codes are read as integers (cheaper than text) until a block has one that is not
    states = [f for f in fields if _TYPES.get(f) == "state"]
    with opener() as stream:
        for block, start, newlines in _iter_blocks(stream, layout, block_bytes):
            try:
                yield _parse_block(block, start, newlines, layout, fields, last_meta, states)
            except FileFormatError as exc:
                if damaged is None:
                    raise FileFormatError(str(exc.args[0]), file=name) from exc
                damaged.append(_damaged_frame(name, block, start, str(exc.args[0])))


#: Bytes read per block, per row asked for (an archive row is about 100 bytes).
_BYTES_PER_ROW = 96
#: What pandas reads as missing (its default ``na_values``), so both parsers agree.
_NA_VALUES = [
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
]


def _iter_blocks(
    stream: IO[bytes], layout: CsvLayout, block_bytes: int
) -> Iterator[tuple[bytearray, int, np.ndarray]]:
    """Yield ``(whole lines, 1-based line of the first, newline offsets)``; header, BOM removed.

    A cut never falls inside a quoted field: the number of quote characters before it is even.
    The text read is copied once, into a buffer that is cut in place (the rest of its last line
    is carried to the next block). The offsets of the block's newlines (one vectorised scan)
    serve the line count and :func:`_add_last_meta`.
    """
    line, carry, first = 1, b"", True
    while True:
        data = stream.read(block_bytes)
        end_of_text = not data
        buf = bytearray(carry)
        buf += data
        del data
        if first:
            first = False
            if buf.startswith(codecs.BOM_UTF8):
                del buf[:3]
            if layout.header:
                end = buf.find(b"\n")
                if end < 0:
                    return
                del buf[: end + 1]
                line = 2
        if end_of_text:
            if buf.strip():
                yield buf, line, _newlines(buf)
            return
        cut = buf.rfind(b"\n") + 1
        quoted = buf.find(b'"', 0, cut) >= 0  # memchr: cheap when there is no quote at all
        while quoted and cut and buf.count(b'"', 0, cut) % 2:
            cut = buf.rfind(b"\n", 0, cut - 1) + 1
        carry = bytes(buf[cut:])
        if not cut:
            continue
        del buf[cut:]
        newlines = _newlines(buf)
        yield buf, line, newlines
        line += len(newlines)


def _newlines(block: bytes | bytearray) -> np.ndarray:
    """Offsets of the newline characters of ``block``."""
    return np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)


def _parse_block(
    block: bytes | bytearray,
    start: int,
    newlines: np.ndarray,
    layout: CsvLayout,
    fields: list[str],
    last_meta: bool,
    states: list[str],
) -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    """Parse a block with pyarrow, else pandas (see :func:`iter_csv_chunks`).

    ``states`` are the state fields tried as integers; it is emptied when a block has a state
    that is not one (labels): they are then read as text, in this block and the next ones.
    """
    meta = [f for f in fields if f in _META] if last_meta and "iu_ac" in fields else []
    core = [f for f in fields if f not in meta]
    frame = _arrow_block(block, layout, core, integers=states) if states else None
    if frame is None:
        frame = _arrow_block(block, layout, core)
        if frame is not None:  # refused for its states only
            states.clear()
    if frame is not None:
        # pyarrow skips blank lines: line numbers hold only when every line made a row
        n_lines = len(newlines) + (not block.endswith(b"\n"))
        if len(frame) == n_lines:
            if meta:
                frame = _add_last_meta(frame, block, newlines, layout, meta)
            return frame, np.arange(start, start + len(frame), dtype="int64"), []
    return _pandas_block(block, start, layout, fields)


def _add_last_meta(
    frame: pd.DataFrame,
    block: bytes | bytearray,
    ends: np.ndarray,
    layout: CsvLayout,
    meta: list[str],
) -> pd.DataFrame:
    """Return ``frame`` with the metadata columns, parsed only on the last line of each arc.

    See ``last_meta`` of :func:`iter_csv_chunks`.

    ``ends`` are the offsets of the block's newlines.
    """
    n = len(frame)
    rows = np.sort(last_positions(frame["iu_ac"].to_numpy(), np.arange(n))[1])  # reading order
    if not block.endswith(b"\n"):
        ends = np.append(ends, len(block))
    starts = np.concatenate([[0], ends[:-1] + 1])
    spans = zip(starts[rows].tolist(), (ends[rows] + 1).tolist(), strict=True)
    lines = b"".join([block[a:b] for a, b in spans])
    small = _arrow_block(lines, layout, meta, text=True)
    if small is not None and len(small) == len(rows) and not small.isna().to_numpy().any():
        columns = {}
        for f in meta:
            # a categorical that is missing except on those rows: no long object column
            found, categories = pd.factorize(small[f].to_numpy(dtype=object))
            codes = np.full(n, -1, dtype="int32")
            codes[rows] = found
            columns[f] = pd.Categorical.from_codes(
                codes, dtype=pd.CategoricalDtype(pd.Index(categories)), validate=False
            )
        # one new frame of the same arrays (a setitem per column costs more than the codes)
        return pd.DataFrame({**{f: frame[f] for f in frame.columns}, **columns}, copy=False)
    whole = _arrow_block(block, layout, meta)  # an empty cell: the whole columns, then
    for f in meta:
        frame[f] = whole[f] if whole is not None else np.nan
    return frame


def _arrow_block(
    block: bytes | bytearray,
    layout: CsvLayout,
    fields: list[str],
    *,
    text: bool = False,
    integers: Collection[str] = (),
) -> pd.DataFrame | None:
    """Parse a block with pyarrow and explicit column types; None when pyarrow refuses it.

    Text columns are read as dictionaries (pandas categoricals), or as plain strings when
    ``text`` is set; the fields in ``integers`` are read as integers.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(len(layout.labels))]
    types = {}
    for f in fields:
        kind = "int" if f in integers else _TYPES.get(f, "text")
        if kind == "int":
            types[f"c{layout.positions[f]}"] = pa.int64()
        elif kind == "float":
            types[f"c{layout.positions[f]}"] = pa.float64()
        else:
            types[f"c{layout.positions[f]}"] = (
                pa.string() if text else pa.dictionary(pa.int32(), pa.string())
            )
    try:
        table = pacsv.read_csv(
            pa.py_buffer(block),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=layout.sep),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=[f"c{layout.positions[f]}" for f in fields],
                null_values=_NA_VALUES,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    frame: pd.DataFrame = table.rename_columns(list(fields)).to_pandas(split_blocks=True)
    return frame


def _pandas_block(
    block: bytes | bytearray, start: int, layout: CsvLayout, fields: list[str]
) -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    """Parse a block with pandas' C engine (bad lines skipped and reported, blank lines kept)."""
    all_names = [f"c{i}" for i in range(len(layout.labels))]
    rename = {f"c{layout.positions[f]}": f for f in fields}
    dtype = {f"c{layout.positions[f]}": str for f in fields if f in TEXT_FIELDS or f == "_geo_lon"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(
                io.BytesIO(block),
                sep=layout.sep,
                header=None,
                names=all_names,
                usecols=list(rename),
                dtype=dtype,
                encoding="utf-8",
                encoding_errors="replace",
                skip_blank_lines=False,
                on_bad_lines="warn",
                engine="c",
                low_memory=False,
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            last = start + block.count(b"\n") - 1
            raise FileFormatError(
                f"cannot parse lines {start}-{last} as delimited text "
                f"({exc}); expected a '{layout.sep}'-separated file with one record per line"
            ) from exc
    skipped = [start - 1 + int(m) for w in caught for m in _SKIPPED.findall(str(w.message))]
    frame = frame.rename(columns=rename)
    lines, _ = _line_numbers(start, len(frame), skipped)
    empty = frame.iloc[:, 0].isna().to_numpy(copy=True)  # written below (pandas 3: read-only view)
    if empty.any():
        empty[empty] = frame.loc[empty].isna().all(axis=1).to_numpy()
    if empty.any():
        frame, lines = frame.loc[~empty], lines[~empty]
    return frame, lines, skipped


def _damaged_frame(name: str, block: bytes | bytearray, start: int, why: str) -> pd.DataFrame:
    """One quarantine row per line of a block that no parser could read."""
    rows = block.decode("utf-8", errors="replace").splitlines()
    n = len(rows)
    return pd.DataFrame(
        {
            "file": np.full(n, name, dtype=object),
            "line": np.arange(start, start + n, dtype="int64"),
            "field": np.full(n, "", dtype=object),
            "reason": np.full(n, "damaged_chunk", dtype=object),
            "raw": np.asarray([r[:200] for r in rows], dtype=object),
        }
    )


def _iter_pandas_stream(
    opener: Opener,
    layout: CsvLayout,
    name: str,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[tuple[pd.DataFrame, np.ndarray, list[int]]]:
    """Pandas' C engine over the whole stream (text that is not UTF-8)."""
    fields = sorted(layout.positions, key=lambda f: layout.positions[f])
    all_names = [f"c{i}" for i in range(len(layout.labels))]
    usecols = [f"c{layout.positions[f]}" for f in fields]
    rename = {f"c{layout.positions[f]}": f for f in fields}
    dtype = {f"c{layout.positions[f]}": str for f in fields if f in TEXT_FIELDS or f == "_geo_lon"}
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
