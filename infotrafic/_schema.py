"""The canonical data contract shared by every layer.

The **panel** is a long pandas frame with one row per (arc, hour):

============== ======================= ==========================================================
column         dtype                   meaning
============== ======================= ==========================================================
arc_id         ``int64``               the arc identifier (``iu_ac``)
time           ``datetime64[ns, UTC]`` **end** of the counting hour (the producer's ``t_1h``)
flow           ``float64``             hourly flow ``q`` in vehicles/hour, NaN when missing
occupancy      ``float64``             occupancy rate ``k`` in %, NaN when missing
traffic_state  ``Int8``                ``etat_trafic`` code (see :data:`TRAFFIC_STATES`)
closure_state  ``Int8``                ``etat_barre`` code (see :data:`CLOSURE_STATES`); this is
                                       information, **not** a validity flag
============== ======================= ==========================================================

Arc attributes (names, nodes, geometry) live in a separate **arcs table** (:data:`ARC_COLUMNS`).
:func:`validate_panel` guards every entry point of the library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from infotrafic.exceptions import DataValidationError

if TYPE_CHECKING:  # numpy and pandas are imported on first use: ``import infotrafic`` stays cheap
    from collections.abc import Iterable

    import numpy as np
    import pandas as pd
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ARC_COLUMNS",
    "CLOSURE_STATES",
    "PANEL_COLUMNS",
    "PANEL_DTYPES",
    "STATE_THRESHOLDS",
    "TRAFFIC_STATES",
    "empty_panel",
    "occupancy_state",
    "to_hourly_grid",
    "validate_panel",
]

#: Columns of the canonical panel, in order.
PANEL_COLUMNS: tuple[str, ...] = (
    "arc_id",
    "time",
    "flow",
    "occupancy",
    "traffic_state",
    "closure_state",
)

#: dtypes of the canonical panel.
PANEL_DTYPES: dict[str, str] = {
    "arc_id": "int64",
    "time": "datetime64[ns, UTC]",
    "flow": "float64",
    "occupancy": "float64",
    "traffic_state": "Int8",
    "closure_state": "Int8",
}

#: Columns of the arcs table (one row per arc).
ARC_COLUMNS: tuple[str, ...] = (
    "arc_id",
    "name",
    "upstream_node_id",
    "upstream_node_name",
    "downstream_node_id",
    "downstream_node_name",
    "lat",
    "lon",
    "geometry",
    "valid_from",
    "valid_to",
)

#: ``etat_trafic`` codes and their labels in the portal's exports.
TRAFFIC_STATES: dict[int, str] = {
    0: "Inconnu",
    1: "Fluide",
    2: "Pré-saturé",
    3: "Saturé",
    4: "Bloqué",
}

#: Occupancy bounds (%) between the states 1-2, 2-3 and 3-4 of :data:`TRAFFIC_STATES`: the
#: portal's ``etat_trafic`` is ``Fluide`` below 15 %, ``Pré-saturé`` from 15 % to below 30 %,
#: ``Saturé`` from 30 % to below 50 % and ``Bloqué`` from 50 % (measured on the real files: the
#: rule reproduces 380,947 of 380,948 published states; see the data guide).
STATE_THRESHOLDS: tuple[float, float, float] = (15.0, 30.0, 50.0)

#: ``etat_barre`` codes and their labels. Not a validity flag: most valid rows say ``Invalide``.
CLOSURE_STATES: dict[int, str] = {
    0: "Inconnu",
    1: "Ouvert",
    2: "Barré",
    3: "Invalide",
}

_REQUIRED = ("arc_id", "time", "flow")


def empty_panel() -> pd.DataFrame:
    """Return an empty canonical panel with the right columns and dtypes.

    Returns
    -------
    pandas.DataFrame
        Zero rows, columns :data:`PANEL_COLUMNS`.

    Examples
    --------
    >>> from infotrafic import empty_panel
    >>> empty_panel().dtypes["time"]
    datetime64[ns, UTC]
    """
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=PANEL_DTYPES[c]) for c in PANEL_COLUMNS})


def occupancy_state(occupancy: ArrayLike) -> NDArray[np.int8]:
    """Derive the traffic state code (1-4 of :data:`TRAFFIC_STATES`) from occupancy rates.

    The rule the portal applies to publish ``etat_trafic`` (see :data:`STATE_THRESHOLDS`); a
    missing occupancy gives 0 (``Inconnu``).

    Parameters
    ----------
    occupancy : array-like of float
        Occupancy rates ``k`` in %.

    Returns
    -------
    numpy.ndarray
        int8 state codes.

    Examples
    --------
    >>> from infotrafic import occupancy_state
    >>> occupancy_state([3.2, 15.0, 29.9, 30.0, 72.5, float("nan")]).tolist()
    [1, 2, 2, 3, 4, 0]
    """
    import numpy as np

    k = np.asarray(occupancy, dtype="float64")
    codes = np.digitize(k, STATE_THRESHOLDS) + 1
    return np.where(np.isnan(k), 0, codes).astype(np.int8)


def is_text(values: pd.Series) -> bool:
    """Return True when ``values`` holds text: ``object`` or a pandas string dtype.

    pandas 3 reads text as its ``str`` dtype where pandas 2 gave ``object``; readers that treat
    text columns apart ask this instead of comparing with ``object``.

    Examples
    --------
    >>> import pandas as pd
    >>> is_text(pd.Series(["a", None])), is_text(pd.Series(["a"], dtype="string"))
    (True, True)
    >>> is_text(pd.Series([1.0]))
    False
    """
    import pandas as pd

    return values.dtype == object or isinstance(values.dtype, pd.StringDtype)


def _fail(message: str, field: str | None, name: str) -> DataValidationError:
    return DataValidationError(f"{name}: {message}", field=field)


def validate_panel(
    df: pd.DataFrame,
    *,
    name: str = "panel",
    allow_duplicates: bool = False,
    sort: bool = True,
) -> pd.DataFrame:
    """Check a frame against the canonical panel contract and return a canonical copy.

    Missing optional columns (``occupancy``, ``traffic_state``, ``closure_state``) are added as
    missing values; extra columns are kept after the canonical ones. The input is never mutated.

    Parameters
    ----------
    df : pandas.DataFrame
        The candidate panel.
    name : str, default "panel"
        How to call the frame in error messages (e.g. a file name or argument name).
    allow_duplicates : bool, default False
        Accept several rows for the same ``(arc_id, time)``.
    sort : bool, default True
        Sort the result by ``(arc_id, time)``.

    Returns
    -------
    pandas.DataFrame
        A new frame with the canonical columns and dtypes.

    Raises
    ------
    DataValidationError
        When a column is missing, has the wrong type, ``time`` is not tz-aware or not on the hour,
        flows or occupancies are negative, or ``(arc_id, time)`` repeats. The message names the
        column and the fix.

    Examples
    --------
    >>> import pandas as pd
    >>> from infotrafic import validate_panel
    >>> raw = pd.DataFrame({"arc_id": [4264], "time": [pd.Timestamp("2023-02-01 22:00Z")],
    ...                     "flow": [764.0]})
    >>> validate_panel(raw).columns.tolist()
    ['arc_id', 'time', 'flow', 'occupancy', 'traffic_state', 'closure_state']
    """
    import numpy as np
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise _fail(f"expected a pandas DataFrame, got {type(df).__name__}", None, name)
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise _fail(
            f"missing column(s) {missing}; a panel needs {list(_REQUIRED)} "
            "(rename your columns, e.g. iu_ac -> arc_id, t_1h -> time, q -> flow)",
            missing[0],
            name,
        )
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    arc = df["arc_id"]
    if arc.isna().any():
        raise _fail("arc_id has missing values; drop or fix those rows", "arc_id", name)
    try:
        arc_values = np.asarray(arc, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise _fail(
            "arc_id must be integers (convert string ids with astype('int64'))", "arc_id", name
        ) from exc
    if not np.all(np.mod(arc_values, 1) == 0):
        raise _fail("arc_id must hold whole numbers", "arc_id", name)
    out["arc_id"] = arc_values.astype("int64")

    time = df["time"]
    if not isinstance(time.dtype, pd.DatetimeTZDtype):
        raise _fail(
            f"time must be a tz-aware datetime column (got {time.dtype}); localise naive Paris "
            "wall-clock times with infotrafic.etl.paris_to_utc or use "
            "pd.to_datetime(..., utc=True)",
            "time",
            name,
        )
    utc = time.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if utc.isna().any():
        raise _fail("time has missing values; drop or fix those rows", "time", name)
    if not (utc.dt.floor("h") == utc).all():
        raise _fail("time must fall on the hour (the end of the counting hour, t_1h)", "time", name)
    out["time"] = utc.reset_index(drop=True)

    for col in ("flow", "occupancy"):
        if col in df.columns:
            try:
                values = pd.to_numeric(df[col], errors="raise").astype("float64")
            except (TypeError, ValueError) as exc:
                raise _fail(f"{col} must be numeric (NaN for missing)", col, name) from exc
            if (values < 0).any():
                raise _fail(f"{col} must not be negative", col, name)
            out[col] = values.to_numpy()
        else:
            out[col] = np.nan
    for col in ("traffic_state", "closure_state"):
        if col in df.columns:
            try:
                out[col] = df[col].reset_index(drop=True).astype("Int8")
            except (TypeError, ValueError) as exc:
                raise _fail(f"{col} must hold small integer codes (or <NA>)", col, name) from exc
        else:
            out[col] = pd.arrays.IntegerArray(
                np.zeros(len(df), dtype="int8"), np.ones(len(df), dtype="bool")
            )
    extra = [c for c in df.columns if c not in PANEL_COLUMNS]
    for col in extra:
        out[col] = df[col].to_numpy()

    arc_key = out["arc_id"].to_numpy()
    time_key = out["time"].to_numpy(dtype="datetime64[ns]").view("int64")
    in_order = bool(
        np.all(
            (arc_key[1:] > arc_key[:-1])
            | ((arc_key[1:] == arc_key[:-1]) & (time_key[1:] >= time_key[:-1]))
        )
    )
    order = None if in_order else np.lexsort((time_key, arc_key))
    if not allow_duplicates:
        a, t = (arc_key, time_key) if order is None else (arc_key[order], time_key[order])
        dup = (a[1:] == a[:-1]) & (t[1:] == t[:-1])
        if dup.any():
            i = int(np.argmax(dup)) + 1
            first_time = pd.Timestamp(int(t[i]), tz="UTC")
            raise _fail(
                f"{int(dup.sum())} duplicated (arc_id, time) rows, e.g. arc {int(a[i])} "
                f"at {first_time}; deduplicate with infotrafic.etl.deduplicate",
                "time",
                name,
            )
    if sort and order is not None:
        out = out.iloc[order].reset_index(drop=True)
    return out


def to_hourly_grid(df: pd.DataFrame, *, arcs: Iterable[int] | None = None) -> pd.DataFrame:
    """Reindex a panel on a regular hourly grid per arc, making missing hours explicit.

    Each arc gets every hour from its first to its last observed ``time``; hours absent from the
    input appear with NaN flow/occupancy and ``<NA>`` states.

    Parameters
    ----------
    df : pandas.DataFrame
        A canonical panel (validated on entry).
    arcs : iterable of int, optional
        Restrict to these arcs.

    Returns
    -------
    pandas.DataFrame
        A new canonical panel on the hourly grid, sorted by ``(arc_id, time)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from infotrafic import to_hourly_grid
    >>> p = pd.DataFrame({"arc_id": [1, 1], "time": pd.to_datetime(["2024-01-01 01:00",
    ...                   "2024-01-01 04:00"], utc=True), "flow": [10.0, 40.0]})
    >>> to_hourly_grid(p)["flow"].tolist()
    [10.0, nan, nan, 40.0]
    """
    import numpy as np
    import pandas as pd

    from infotrafic._time import arc_hours

    panel = validate_panel(df)
    if arcs is not None:
        panel = panel[panel["arc_id"].isin(list(arcs))]
    if panel.empty:
        return panel.reset_index(drop=True)
    pieces = []
    for arc_id, group, hours, _ in arc_hours(panel):
        idx = pd.MultiIndex.from_arrays(
            [np.full(len(hours), arc_id, dtype="int64"), hours], names=["arc_id", "time"]
        )
        pieces.append(group.set_index(["arc_id", "time"]).reindex(idx))
    grid = pd.concat(pieces).reset_index()
    return validate_panel(grid)
