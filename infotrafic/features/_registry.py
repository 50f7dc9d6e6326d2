"""What a feature builder is, the columns it declares, and the registry of builder kinds.

A builder declares its output once, as a tuple of :class:`Column` specs made by
``columns(lead)``; everything else derives from it: the names of a spec
(:meth:`FeatureSpec.feature_names <infotrafic.features.FeatureSpec.feature_names>`), the units,
and the values, which ``compute`` yields keyed by those same specs. Builder classes register their
``kind`` with :func:`register_builder` (a class decorator), which is how a serialised
:class:`~infotrafic.features.FeatureSpec` finds them again and how the generated lookback and
leakage checks (:func:`~infotrafic.features.check_builder`) find every builder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, runtime_checkable

from infotrafic.exceptions import ConfigurationError
from infotrafic.features._grid import F64, HistoryView

__all__ = [
    "BUILDERS",
    "Column",
    "FeatureBuilder",
    "builder_class",
    "builder_examples",
    "register_builder",
]

#: The methods every builder class provides (checked by :func:`register_builder`).
PROTOCOL_METHODS: tuple[str, ...] = ("columns", "required_columns", "lookback", "compute")


@dataclass(frozen=True)
class Column:
    """One feature column: the single place its name is written.

    Parameters
    ----------
    name : str
        Column name in the feature table (e.g. ``"flow_lag1"``).
    unit : str, optional
        The panel series whose unit the values carry (``"flow"``, ``"occupancy"``); None for
        unitless values (calendar fields, ages, shares, ratios).
    lag : int, optional
        The most recent hour the values read, in hours back from the target hour (never below
        the lead); None when they read no panel value (calendar fields).
    source : str, optional
        The panel column read (None: none).

    Examples
    --------
    >>> from infotrafic.features import Lags
    >>> Lags("occupancy", lags=(3,)).columns(lead=1)
    (Column(name='occupancy_lag3', unit='occupancy', lag=3, source='occupancy'),)
    """

    name: str
    unit: str | None = None
    lag: int | None = None
    source: str | None = None


@runtime_checkable
class FeatureBuilder(Protocol):
    """What a feature builder provides (a frozen dataclass with a ``kind`` tag).

    ``compute`` yields ``(column, values)`` pairs whose ``column`` is one of
    ``columns(view.lead)``; the values are arrays broadcastable to ``(n_arcs, n_hours)`` of the
    view (a ``(1, n_hours)`` row for values that depend on the hour only).
    """

    @property
    def kind(self) -> str:
        """Tag naming the builder class in serialised specs."""
        ...

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return the columns produced for this lead, in order."""
        ...

    def required_columns(self) -> tuple[str, ...]:
        """Panel columns read."""
        ...

    def lookback(self, lead: int) -> int | None:
        """Hours before a target hour that its values can reach (None: the whole history)."""
        ...

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
        """Yield ``(column, array broadcastable to (n_arcs, n_hours))``."""
        ...


class NamedColumns:
    """Derived views of ``columns(lead)`` shared by the built-in builders (not public)."""

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return the columns made for this lead."""
        raise NotImplementedError

    def names(self, lead: int) -> list[str]:
        """Return the names of the columns made for this lead."""
        return [c.name for c in self.columns(lead)]

    def units(self, lead: int) -> dict[str, str | None]:
        """Map every produced column to the series whose unit it carries (None: unitless)."""
        return {c.name: c.unit for c in self.columns(lead)}


_REGISTRY: dict[str, type[Any]] = {}

#: Registered builder classes by ``kind`` (read-only; add one with :func:`register_builder`).
BUILDERS: Mapping[str, type[Any]] = MappingProxyType(_REGISTRY)

_C = TypeVar("_C", bound=type[Any])


def register_builder(cls: _C) -> _C:
    """Register a feature builder class under its ``kind`` (usable as a class decorator).

    Registered builders can be read back from a serialised
    :class:`~infotrafic.features.FeatureSpec` (hence from a saved model) and are covered by the
    generated lookback and leakage checks (:func:`~infotrafic.features.builder_examples`,
    :func:`~infotrafic.features.check_builder`).

    Parameters
    ----------
    cls : type
        A frozen dataclass with a class attribute ``kind`` (a non-empty string no other
        registered class uses) and the methods ``columns``, ``required_columns``,
        ``lookback`` and ``compute`` of :class:`FeatureBuilder`. An optional classmethod
        ``examples(lead)`` returns the instances the generated checks use (default: ``cls()``).

    Returns
    -------
    type
        ``cls`` itself.

    Raises
    ------
    ConfigurationError
        When ``cls`` is not a dataclass, lacks a ``kind`` or a protocol method, or its ``kind``
        belongs to another registered class.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> from typing import ClassVar
    >>> @dataclass(frozen=True)
    ... class Nothing:
    ...     kind: ClassVar[str] = "doc_nothing"
    >>> register_builder(Nothing)
    Traceback (most recent call last):
    ...
    infotrafic.exceptions.ConfigurationError: feature builder class Nothing lacks the method(s) ...
    >>> from infotrafic.features import Lags
    >>> register_builder(Lags) is Lags  # registering a class again changes nothing
    True
    """
    name = getattr(cls, "__qualname__", repr(cls))
    if not isinstance(cls, type):
        raise ConfigurationError(
            f"register_builder expects a class, got {cls!r}; decorate the builder class itself"
        )
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise ConfigurationError(
            f"feature builder class {name} has no kind; add a class attribute "
            '`kind: ClassVar[str] = "my_builder"` (the tag of serialised specs)'
        )
    missing = [m for m in PROTOCOL_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise ConfigurationError(
            f"feature builder class {name} lacks the method(s) {missing} of the FeatureBuilder "
            "protocol (columns, required_columns, lookback, compute); define them"
        )
    if not dataclasses.is_dataclass(cls):
        raise ConfigurationError(
            f"feature builder class {name} is not a dataclass, so specs using it cannot be "
            "saved; decorate it with @dataclass(frozen=True) below @register_builder"
        )
    known = _REGISTRY.get(kind)
    if known is not None and known is not cls:
        raise ConfigurationError(
            f"feature builder kind {kind!r} of class {name} is already registered by "
            f"{known.__module__}.{known.__qualname__}; give {name} another kind"
        )
    _REGISTRY[kind] = cls
    return cls


def builder_class(kind: object) -> type[Any]:
    """Return the registered builder class of ``kind``.

    Raises
    ------
    ConfigurationError
        When no class is registered under ``kind``.
    """
    cls = _REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ConfigurationError(
            f"unknown feature builder kind {kind!r}; known: {sorted(_REGISTRY)} (register the "
            "builder class with infotrafic.features.register_builder before reading the spec)"
        )
    return cls


def builder_examples(lead: int = 1) -> list[Any]:
    """Return example instances of every registered builder, valid at ``lead``.

    The generated lookback and leakage tests run on these, so a newly registered builder is
    checked without anyone listing it. A class gives its examples with a classmethod
    ``examples(lead)``; without one, its default instance ``cls()`` is used.

    Parameters
    ----------
    lead : int, default 1
        ``horizon + delay`` in hours; the examples read nothing newer than that.

    Returns
    -------
    list
        Builder instances, by registration order then example order.

    Raises
    ------
    ConfigurationError
        When a class has neither ``examples`` nor a default instance.

    Examples
    --------
    >>> kinds = {b.kind for b in builder_examples(3)}
    >>> {"lags", "calendar", "rolling"} <= kinds
    True
    """
    out: list[Any] = []
    for cls in list(_REGISTRY.values()):
        make = getattr(cls, "examples", None)
        try:
            found = tuple(make(int(lead))) if callable(make) else (cls(),)
        except TypeError as exc:
            raise ConfigurationError(
                f"feature builder class {cls.__qualname__} has no default instance: give every "
                "field a default or define a classmethod examples(lead) returning instances"
            ) from exc
        out.extend(found)
    return out
