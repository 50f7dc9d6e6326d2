"""Queries: user times (one rule, see :mod:`infotrafic._time`), the ODSQL ``where``, slices."""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from infotrafic._time import PARIS, PARIS_TZ, parse_user_time
from infotrafic._time import to_utc as _localize
from infotrafic._types import TimeLike
from infotrafic.exceptions import ConfigurationError

__all__ = ["PARIS", "Slice", "arcs_list", "make_slices", "odsql_where", "to_utc"]


def to_utc(value: TimeLike, *, name: str = "time") -> pd.Timestamp:
    """Read a time given by a user (a query bound): the library's one rule for user times.

    Naive values (and plain dates) are Paris wall-clock time; aware values are converted. A
    Paris time that does not exist (spring forward) or happens twice (fall back) is refused,
    naming the candidate instants, exactly as ``backtest`` and ``ParquetStore.read`` do
    (:func:`infotrafic.backtest.parse_time`); a bound need not fall on the hour.

    Parameters
    ----------
    value : str, datetime, date or pandas.Timestamp
        The time.
    name : str, default "time"
        How to call the value in error messages.

    Returns
    -------
    pandas.Timestamp
        The instant in UTC.

    Raises
    ------
    ConfigurationError
        When the value cannot be read, or is ambiguous or non-existent in Paris.

    Examples
    --------
    >>> to_utc("2024-03-01")
    Timestamp('2024-02-29 23:00:00+0000', tz='UTC')
    >>> to_utc("2024-03-01T00:00Z")
    Timestamp('2024-03-01 00:00:00+0000', tz='UTC')
    """
    return parse_user_time(value, name=name, on_hour=False)


def arcs_list(arcs: int | str | Iterable[int | str] | None) -> list[int] | None:
    """Normalise arc ids to a sorted list of distinct ints (``None`` means every arc).

    Parameters
    ----------
    arcs : int, str, iterable of those, or None
        Arc ids (``iu_ac``).

    Returns
    -------
    list of int or None
        Sorted, distinct ids.

    Examples
    --------
    >>> arcs_list(["5672", 4264, 4264])
    [4264, 5672]
    """
    if arcs is None:
        return None
    items = [arcs] if isinstance(arcs, int | str) else list(arcs)
    out = set()
    for item in items:
        try:
            out.add(int(item))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"arc id {item!r} is not an integer (iu_ac)") from exc
    if not out:
        raise ConfigurationError("an empty list of arcs selects nothing; pass None for all arcs")
    return sorted(out)


def _literal(stamp: pd.Timestamp) -> str:
    return "date'" + stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


def odsql_where(
    arcs: Sequence[int] | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> str | None:
    r"""Build the ODSQL filter for arcs and ``start <= t_1h < end``.

    Parameters
    ----------
    arcs : sequence of int or None
        Arc ids; ``None`` for all.
    start, end : pandas.Timestamp or None
        Aware bounds; ``None`` leaves that side open.

    Returns
    -------
    str or None
        The ``where`` expression, or ``None`` when nothing is filtered.

    Examples
    --------
    >>> odsql_where([4264, 5672], to_utc("2024-01-01T00:00Z"), None)
    't_1h >= date\'2024-01-01T00:00:00Z\' AND iu_ac IN ("4264", "5672")'
    """
    parts = []
    if start is not None:
        parts.append(f"t_1h >= {_literal(start)}")
    if end is not None:
        parts.append(f"t_1h < {_literal(end)}")
    if arcs is not None:
        if len(arcs) == 1:
            parts.append(f'iu_ac = "{arcs[0]}"')
        else:
            parts.append("iu_ac IN (" + ", ".join(f'"{a}"' for a in arcs) + ")")
    return " AND ".join(parts) or None


@dataclass(frozen=True)
class Slice:
    """One time slice of a bulk query: ``start <= t_1h < end`` for some arcs."""

    arcs: tuple[int, ...] | None
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def where(self) -> str:
        """The ODSQL filter of this slice."""
        where = odsql_where(list(self.arcs) if self.arcs else None, self.start, self.end)
        assert where is not None
        return where

    @property
    def key(self) -> str:
        """A stable name for the slice, used for its file and the resume manifest."""
        digest = hashlib.sha1(repr(self.arcs).encode()).hexdigest()[:10]
        fmt = "%Y%m%dT%H%MZ"
        return f"{self.start.strftime(fmt)}_{self.end.strftime(fmt)}_{digest}"

    @property
    def label(self) -> str:
        """A short human label (Paris local start) for progress bars."""
        return str(self.start.tz_convert(PARIS_TZ).strftime("%Y-%m-%d %H:%M"))


def make_slices(
    arcs: Sequence[int] | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
    freq: str | _dt.timedelta | pd.DateOffset = "MS",
) -> list[Slice]:
    """Cut ``[start, end)`` at Paris-local boundaries of ``freq`` (month starts by default).

    Parameters
    ----------
    arcs : sequence of int or None
        Arcs of every slice.
    start, end : pandas.Timestamp
        Aware bounds, ``start < end``.
    freq : str or timedelta or DateOffset, default "MS"
        A pandas frequency: ``"MS"`` (months), ``"7D"``, ``"D"``...

    Returns
    -------
    list of Slice
        Contiguous slices covering exactly ``[start, end)``.

    Examples
    --------
    >>> s = make_slices([1], to_utc("2024-01-15"), to_utc("2024-03-01"))
    >>> [x.label for x in s]
    ['2024-01-15 00:00', '2024-02-01 00:00']
    """
    if not start < end:
        raise ConfigurationError(f"start ({start}) must be before end ({end})")
    # Cut on the Paris wall clock, anchored at local midnight; DST gaps and repeats are settled
    # when localising (non-existent cuts move forward, ambiguous ones are dropped).
    first = start.tz_convert(PARIS_TZ).normalize().tz_localize(None)
    last = end.tz_convert(PARIS_TZ).tz_localize(None) + pd.Timedelta(days=1)
    try:
        naive = pd.date_range(first, last, freq=freq)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"bad slice frequency {freq!r}: {exc}") from exc
    local = _localize(naive, ambiguous="NaT", nonexistent="shift_forward", name="slice").dropna()
    inner = sorted({c for c in local if start < c < end})
    bounds = [start, *inner, end]
    key = tuple(arcs) if arcs is not None else None
    return [Slice(key, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
