"""Fast delimited-text reading with pyarrow: every column dictionary-encoded.

Each column is read as a dictionary of *bytes*: a batch of half a million rows of the same arc
and hour strings becomes a few thousand distinct values plus integer indices, so no Python
string is built per row, and every later parse (ids, timestamps, numbers, state labels) runs
once per distinct value. Bytes are decoded with the sniffed encoding (``errors="replace"``, so a
stray invalid byte becomes U+FFFD instead of failing the file). Rows with the wrong number of
fields are reported with their physical line number (``bad_field_count``) instead of being
dropped. Columns come out as pandas ``Categorical`` (missing = empty field or a null token).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from infotrafic.etl._csv import CsvLayout, _line_numbers
from infotrafic.exceptions import FileFormatError

__all__ = ["iter_arrow_chunks"]

_BLOCK = 1 << 24  # 16 MiB of text per batch
_NULL_TOKENS = frozenset({"", "nan", "NaN", "NA", "N/A", "null", "NULL", "None", "none"})
_DICT = pa.dictionary(pa.int32(), pa.binary())


def _categorical(column: pa.Array, encoding: str) -> pd.Categorical:
    """Dictionary<binary> array -> pandas Categorical of decoded strings (nulls for blanks)."""
    dictionary = column.dictionary.to_pylist()
    decoded = [
        None if b is None else b.decode(encoding, errors="replace").strip() for b in dictionary
    ]
    decoded = [None if (s is None or s in _NULL_TOKENS) else s for s in decoded]
    remap, categories = pd.factorize(pd.Series(decoded, dtype=object), use_na_sentinel=True)
    remap = np.append(remap.astype("int64"), -1)
    indices = column.indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False)
    codes = remap[indices.astype("int64")]
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))


def _codec(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding


def iter_arrow_chunks(
    source: str | IO[bytes],
    layout: CsvLayout,
    name: str,
    *,
    gzip: bool = False,
) -> Iterator[tuple[pd.DataFrame, np.ndarray, pd.DataFrame]]:
    """Yield ``(raw chunk, line numbers, rejected lines)`` for a delimited text file.

    Parameters
    ----------
    source : str or binary file
        A path (read by Arrow's own, GIL-free, decompressor when ``gzip``) or an open stream
        (e.g. a ZIP member).
    layout : CsvLayout
        From :func:`~infotrafic.etl._csv.sniff_csv`.
    name : str
        The file name, for the quarantine and error messages.
    gzip : bool, default False
        ``source`` is a gzip-compressed path.

    Yields
    ------
    tuple
        Raw frame (columns = raw field names, ``Categorical``), the 1-based physical line of
        each row, and a quarantine frame of the lines with a wrong number of fields.

    Raises
    ------
    FileFormatError
        When Arrow cannot parse the text (e.g. an unterminated quote).
    """
    width = len(layout.labels)
    names = [f"c{i}" for i in range(width)]
    fields = sorted(layout.positions, key=lambda f: layout.positions[f])
    include = [f"c{layout.positions[f]}" for f in fields]
    rename = {f"c{layout.positions[f]}": f for f in fields}
    invalid: list[tuple[int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        text = row.text or ""
        if text.strip():
            invalid.append((int(row.number) if row.number is not None else -1, text[:200]))
        return "skip"

    read_options = pacsv.ReadOptions(
        column_names=names, skip_rows=1, block_size=_BLOCK, use_threads=False
    )
    parse_options = pacsv.ParseOptions(
        delimiter=layout.sep, invalid_row_handler=on_invalid, ignore_empty_lines=False
    )
    convert_options = pacsv.ConvertOptions(
        column_types={c: _DICT for c in include}, include_columns=include
    )
    stream: IO[bytes] | pa.NativeFile
    if isinstance(source, str):
        stream = pa.input_stream(source, compression="gzip" if gzip else None)
    else:
        stream = source
    codec = _codec(layout.encoding)
    next_line = 2
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        for batch in reader:
            frame = pd.DataFrame(
                {rename[c]: _categorical(batch.column(c), codec) for c in include}
            )
            skipped = [n for n, _ in invalid if n > 0]
            lines, next_line = _line_numbers(next_line, len(frame), skipped)
            bad = pd.DataFrame(
                {
                    "file": np.full(len(invalid), name, dtype=object),
                    "line": np.asarray([n for n, _ in invalid], dtype="int64"),
                    "field": np.full(len(invalid), "", dtype=object),
                    "reason": np.full(len(invalid), "bad_field_count", dtype=object),
                    "raw": np.asarray([t for _, t in invalid], dtype=object),
                }
            )
            invalid.clear()
            blank = frame.isna().all(axis=1).to_numpy()
            if blank.any():
                frame, lines = frame.loc[~blank].reset_index(drop=True), lines[~blank]
            yield frame, lines, bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, EOFError) as exc:
        raise FileFormatError(
            f"cannot parse as '{layout.sep}'-separated text ({exc}); expected one record per "
            "line with balanced quotes",
            file=name,
        ) from exc
    finally:
        if isinstance(stream, pa.NativeFile):
            stream.close()
