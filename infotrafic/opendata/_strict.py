"""Strict reading of the portal's exports: a body is well formed or it is refused.

A file written by the portal has no NUL byte, one record per line with exactly the header's
number of fields, balanced quotes, arc ids that are integers, ``t_1h`` times in ISO 8601 with an
offset, numbers where numbers are due and known state labels. Anything else is damage on the way
(a proxy, a cut, a corrupted buffer) and the slice is downloaded again, never "repaired": the
pandas C parser would otherwise stop a field at a NUL byte or turn a broken number into a missing
value without a word.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from infotrafic._schema import is_text

__all__ = ["check_csv_body", "check_no_nul", "check_values"]

_BLOCK = 1 << 22
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _blocks(opener: Callable[[], IO[bytes]]) -> Any:
    with opener() as fh:
        while block := fh.read(_BLOCK):
            yield block


def check_no_nul(opener: Callable[[], IO[bytes]], name: str) -> bool:
    """Raise :class:`ValueError` at the first NUL byte; return whether the body has a quote.

    Parameters
    ----------
    opener : callable
        Returns a fresh binary stream of the (decompressed) body.
    name : str
        The file name, for messages.

    Returns
    -------
    bool
        ``True`` when a ``"`` occurs (the field count then needs a real CSV parser).
    """
    offset = 0
    quoted = False
    for block in _blocks(opener):
        at = block.find(b"\x00")
        if at >= 0:
            raise ValueError(f"{name}: NUL byte at offset {offset + at}: the body is corrupt")
        quoted = quoted or b'"' in block
        offset += len(block)
    return quoted


def _bad_lines(data: bytes, sep: int, fields: int) -> np.ndarray[Any, Any]:
    """0-based indexes of the newline-terminated lines of ``data`` without ``fields`` fields."""
    arr = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(arr == 10)
    seps = np.searchsorted(np.flatnonzero(arr == sep), ends)
    per_line = np.diff(seps, prepend=0)
    starts = np.concatenate(([0], ends[:-1] + 1))
    blank = (ends - starts) <= 1  # "\n" or "\r\n": pandas skips blank lines, so do we
    out: np.ndarray[Any, Any] = np.flatnonzero((per_line != fields - 1) & ~blank)
    return out


def check_csv_body(opener: Callable[[], IO[bytes]], name: str, sep: str) -> None:
    """Raise :class:`ValueError` unless every record has the header's number of fields.

    Also refuses NUL bytes and broken quoting (an opening quote never closed, text after a
    closing quote). Without any quote in the body the fields are counted on the bytes (fast);
    otherwise Python's strict CSV parser reads the body.

    Parameters
    ----------
    opener, name
        As for :func:`check_no_nul`.
    sep : str
        The field delimiter (one character).
    """
    quoted = check_no_nul(opener, name)
    if quoted:
        with opener() as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = csv.reader(text, delimiter=sep, strict=True)
            try:
                fields = len(next(reader, []))
                for row in reader:
                    if row and len(row) != fields:
                        raise ValueError(
                            f"{name}: line {reader.line_num} has {len(row)} fields, the header "
                            f"{fields}: the body is broken"
                        )
            except csv.Error as exc:
                raise ValueError(
                    f"{name}: line {reader.line_num}: broken quoting ({exc}): the body is broken"
                ) from exc
        return
    carry = b""
    fields = 0
    line = 0
    code = ord(sep)
    for block in _blocks(opener):
        data = carry + block
        end = data.rfind(b"\n") + 1
        carry, data = data[end:], data[:end]
        if not data:
            continue
        if not fields:
            fields = data[: data.find(b"\n")].count(sep.encode()) + 1
        bad = _bad_lines(data, code, fields)
        if len(bad):
            raise ValueError(
                f"{name}: line {line + int(bad[0]) + 1} does not have the header's {fields} "
                "fields: the body is broken"
            )
        line += data.count(b"\n")
    if carry.strip() and fields and carry.count(sep.encode()) != fields - 1:
        raise ValueError(
            f"{name}: line {line + 1} (the last) does not have the header's {fields} fields: "
            "the body is cut or broken"
        )


def _first_bad(
    mask: np.ndarray[Any, Any], raw: pd.Series, name: str, field: str, what: str
) -> None:
    if mask.any():
        at = int(np.flatnonzero(mask)[0])
        raise ValueError(
            f"{name}: record {at + 1}, field {field!r}: {raw.iloc[at]!r} is not {what}: "
            "the body is broken"
        )


def check_values(
    frame: pd.DataFrame,
    parsed: dict[str, pd.Series],
    name: str,
) -> None:
    """Raise :class:`ValueError` when a raw value did not convert (instead of a silent NA).

    Parameters
    ----------
    frame : pandas.DataFrame
        The raw fields as read (``iu_ac``, ``t_1h``, ``q``, ``k``, states).
    parsed : dict of str to pandas.Series
        The converted value of each checked field, NA where the conversion failed.
    name : str
        The file name, for messages.
    """
    what = {
        "iu_ac": "an arc id",
        "t_1h": "an ISO 8601 time with an offset",
        "q": "a number",
        "k": "a number",
        "etat_trafic": "a known traffic state",
        "etat_barre": "a known closure state",
    }
    for field, values in parsed.items():
        raw = frame[field].reset_index(drop=True)
        given = raw.notna().to_numpy()
        if field == "iu_ac":
            given = np.ones(len(raw), dtype=bool)  # a record without an id is broken too
        failed = given & values.isna().to_numpy()
        _first_bad(failed, raw, name, field, what[field])
        if field == "t_1h" and is_text(raw) and given.any():  # not the fixed-width path
            text = raw[given].astype(str)
            shaped = text.str.fullmatch(_ISO).to_numpy(dtype=bool)
            mask = np.zeros(len(raw), dtype=bool)
            mask[np.flatnonzero(given)[~shaped]] = True
            _first_bad(mask, raw, name, field, what[field])


def opener_of(path: Path) -> Callable[[], IO[bytes]]:
    """Return a function opening ``path`` for binary reading (gzip decompressed)."""
    import gzip

    def opener() -> IO[bytes]:
        if path.name.endswith(".gz"):
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return path.open("rb")

    return opener
