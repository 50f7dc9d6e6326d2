"""How the backtest report shows numbers, times and tables, in text, JSON and HTML alike.

Shared by the report (:mod:`._report`) and its HTML page (:mod:`._html`), which therefore do not
import each other.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from infotrafic._time import PARIS_TZ

__all__ = ["WEEKDAYS", "flat_index", "format_number", "format_table", "json_records", "paris_label"]

#: Weekday names, Monday first (the report's weekday 0).
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_COUNTS = ("n", "n_targets", "n_predicted")


def paris_label(value: Any) -> str:
    """Return an ISO time as Paris wall-clock time (the date alone at midnight).

    Parameters
    ----------
    value : object
        An ISO time string (other values are shown with :func:`str`).

    Returns
    -------
    str

    Examples
    --------
    >>> paris_label("2023-01-31T23:00:00+00:00"), paris_label("2023-07-01T08:00Z")
    ('2023-02-01', '2023-07-01 10:00')
    """
    if not isinstance(value, str):
        return str(value)
    ts = pd.Timestamp(value).tz_convert(PARIS_TZ)
    return ts.strftime("%Y-%m-%d") if ts.hour == 0 else ts.strftime("%Y-%m-%d %H:%M")


def format_number(value: Any, column: str, *, digits: int = 3, missing: str = "-") -> str:
    """Format one cell of a score table.

    Counts get thousands separators; ``mae``, ``rmse``, ``bias`` and values of 10 or more two
    decimals; other numbers (ratios, coverage) ``digits`` decimals.

    Parameters
    ----------
    value : object
        The cell.
    column : str
        Its column name.
    digits : int, default 3
        Decimals of small numbers.
    missing : str, default "-"
        What a missing value (None, NaN) shows.

    Returns
    -------
    str

    Examples
    --------
    >>> format_number(1234, "n"), format_number(38.104, "mae"), format_number(0.51234, "ratio")
    ('1,234', '38.10', '0.512')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, str):
        return value
    if column in _COUNTS or isinstance(value, int | np.integer):
        return f"{int(value):,}"
    x = float(value)
    if column in ("mae", "rmse", "bias") or abs(x) >= 10:
        return f"{x:.2f}"
    return f"{x:.{digits}f}"


def format_table(table: pd.DataFrame, *, index_name: str = "", digits: int = 3) -> str:
    """Format a numeric frame as an aligned text table (first column left-aligned).

    Parameters
    ----------
    table : pandas.DataFrame
        The table; its index becomes the first column.
    index_name : str
        Header of the first column.
    digits : int, default 3
        Decimals for ratios/small numbers; values >= 10 get 1 or 2 decimals.

    Returns
    -------
    str

    Examples
    --------
    >>> import pandas as pd
    >>> print(format_table(pd.DataFrame({"mae": [38.1]}, index=["gbm"]), index_name="model"))
    model    mae
    gbm    38.10
    """
    header = [index_name] + [str(c) for c in table.columns]
    rows = []
    for idx, row in table.iterrows():
        cells = [str(idx)]
        for col, v in row.items():
            cells.append(format_number(v, str(col), digits=digits))
        rows.append(cells)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for r in [header, *rows]:
        first = r[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        out.append("  ".join([first, *rest]).rstrip())
    return "\n".join(out)


def flat_index(table: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of a multi-indexed table, indexed by its labels joined with `` / ``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"n": [1]}, index=pd.MultiIndex.from_tuples([("gbm", 80.0, 1)]))
    >>> flat_index(t).index.tolist()
    ['gbm / 80 / 1']
    """
    out = table.copy()
    out.index = [
        " / ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in idx)
        if isinstance(idx, tuple)
        else str(idx)
        for idx in out.index
    ]
    return out


def json_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Return a table's rows (index included) as JSON-friendly dicts (NaN -> None).

    Examples
    --------
    >>> import pandas as pd
    >>> json_records(pd.DataFrame({"mae": [1.5, float("nan")]}, index=pd.Index([7, 8], name="arc")))
    [{'arc': 7, 'mae': 1.5}, {'arc': 8, 'mae': None}]
    """
    flat = df.reset_index()
    out = []
    for rec in flat.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if isinstance(v, np.integer):
                v = int(v)
            elif isinstance(v, np.floating | float):
                v = None if math.isnan(float(v)) else float(v)
            elif isinstance(v, pd.Timestamp):
                v = v.isoformat()
            clean[str(k)] = v
        out.append(clean)
    return out
