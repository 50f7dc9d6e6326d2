"""Portal Parquet exports -> raw chunks (batch by batch, raw field names or labels).

``t_1h`` may be a string (ISO with offset) or a timestamp type: tz-aware timestamps are exact,
naive ones are read as Paris wall clock (the library-wide convention for naive times).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from infotrafic._fields import describe_columns, map_columns
from infotrafic.exceptions import FileFormatError

__all__ = ["iter_parquet_chunks"]

_BATCH = 500_000


def _plain(value: object) -> object:
    """Nested values (struct, list) as compact JSON text, like the other regimes carry them."""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, (list, tuple, np.ndarray)):
        return json.dumps(list(np.asarray(value).tolist()), separators=(",", ":"))
    return value


def iter_parquet_chunks(
    source: str | IO[bytes], name: str
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield ``(raw chunk, 1-based row numbers)`` from a Parquet file.

    Parameters
    ----------
    source : str or binary file
        The Parquet file.
    name : str
        The file name, for error messages.

    Yields
    ------
    tuple
        Raw frame with raw field names and the row numbers.

    Raises
    ------
    FileFormatError
        When the file is not readable Parquet or lacks the time/arc/flow columns.
    """
    try:
        pf = pq.ParquetFile(source)
    except (pa.ArrowException, OSError) as exc:
        raise FileFormatError(f"not a readable Parquet file ({exc})", file=name) from exc
    labels = list(pf.schema_arrow.names)
    positions = map_columns(labels)
    positions.pop("_geo_lon", None)
    missing = [f for f in ("iu_ac", "t_1h") if f not in positions]
    if not missing and "q" not in positions and "k" not in positions:
        missing = ["q"]
    if missing:
        raise FileFormatError(
            f"missing column(s) {missing}; columns found: {describe_columns(labels)}",
            file=name,
            field=missing[0],
        )
    columns = [labels[p] for p in positions.values()]
    start = 1
    try:
        for batch in pf.iter_batches(batch_size=_BATCH, columns=columns):
            frame = batch.to_pandas()
            raw = pd.DataFrame(
                {
                    field: frame[labels[pos]]
                    if frame[labels[pos]].dtype != object
                    else frame[labels[pos]].map(_plain)
                    for field, pos in positions.items()
                }
            )
            lines = np.arange(start, start + len(raw), dtype="int64")
            start += len(raw)
            yield raw, lines
    except (pa.ArrowException, OSError) as exc:
        raise FileFormatError(f"cannot read Parquet data ({exc})", file=name) from exc
