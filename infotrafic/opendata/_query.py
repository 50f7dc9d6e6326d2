"""Queries: times (naive = Paris wall clock), the ODSQL ``where`` the client sends, time slices."""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from infotrafic._types import TimeLike
from infotrafic.exceptions import ConfigurationError

__all__ = ["PARIS", "Slice", "arcs_list", "make_slices", "odsql_where", "to_utc"]

#: The producer's local time zone.
PARIS = "Europe/Paris"


def to_utc(value: TimeLike) -> pd.Timestamp:
    """Read a time given by a user; naive values (and plain dates) are Paris wall-clock time.

    Parameters
    ----------
    value : str, datetime, date or pandas.Timestamp
        The time. A non-existent Paris time (spring forward) moves forward to the first valid
        instant; an ambiguous one (fall back) takes the first (summer time) occurrence.

    Returns
    -------
    pandas.Timestamp
        The instant in UTC.

    Examples
    --------
    >>> to_utc("2024-03-01")
    Timestamp('2024-02-29 23:00:00+0000', tz='UTC')
    >>> to_utc("2024-03-01T00:00Z")
    Timestamp('2024-03-01 00:00:00+0000', tz='UTC')
    """
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read {value!r} as a time; use ISO 8601 such as 2024-03-01 or "
            "2024-03-01T10:00+01:00"
        ) from exc
    if pd.isna(stamp):
        raise ConfigurationError(f"{value!r} is not a time")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(PARIS, ambiguous=True, nonexistent="shift_forward")
    return stamp.tz_convert("UTC")


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
        return str(self.start.tz_convert(PARIS).strftime("%Y-%m-%d %H:%M"))


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
    first = start.tz_convert(PARIS).normalize().tz_localize(None)
    last = end.tz_convert(PARIS).tz_localize(None) + pd.Timedelta(days=1)
    try:
        naive = pd.date_range(first, last, freq=freq)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"bad slice frequency {freq!r}: {exc}") from exc
    local = naive.tz_localize(PARIS, nonexistent="shift_forward", ambiguous="NaT").dropna()
    inner = sorted({c.tz_convert("UTC") for c in local if start < c < end})
    bounds = [start, *inner, end]
    key = tuple(arcs) if arcs is not None else None
    return [Slice(key, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
