"""The raw field vocabulary of the dataset, written once: names, labels, aliases, types, columns.

``comptages-routiers-permanents`` names its fields ``iu_ac``, ``t_1h``, ``q``, ... (raw names);
the portal's labelled exports and web UI call them ``Identifiant arc``, ``Date et heure de
comptage``, ``Débit horaire``, ...; re-saved files mangle those labels (``D�bit horaire``,
``DÃ©bit horaire``). :data:`FIELD_TABLE` holds one :class:`Field` per raw field; every reader of
the library (the ``etl`` readers, the portal client's export parsing) maps headers with
:func:`map_columns` and state labels with :func:`state_code`, built from that table.

Labels are compared on a *key* (accents removed, lower case, letters and digits only) and, failing
that, on a *skeleton* (the key without vowels), which survives a lost or mangled accented letter.

This module sits below ``etl`` and ``opendata`` (it imports only :mod:`infotrafic._schema`) and
imports nothing heavy.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from infotrafic._schema import CLOSURE_STATES, TRAFFIC_STATES

__all__ = [
    "ARCHIVE_ORDER",
    "FIELDS",
    "FIELD_LABELS",
    "FIELD_TABLE",
    "META_FIELDS",
    "TEXT_FIELDS",
    "Field",
    "closure_code_for",
    "column_of",
    "describe_columns",
    "label_key",
    "label_skeleton",
    "map_columns",
    "state_code",
    "traffic_code_for",
]


@dataclass(frozen=True)
class Field:
    """One raw field of the dataset.

    Attributes
    ----------
    name : str
        The raw field name (``iu_ac``).
    label : str
        The portal's label (``Identifiant arc``), as labelled exports write it.
    aliases : tuple of str
        Other spellings accepted when reading a header.
    type : str
        How readers parse it: ``"int"`` (the arc id), ``"float"`` (``q``, ``k``), ``"state"``
        (a state label or code), ``"datetime"`` (``t_1h``) or ``"text"`` (kept as text).
    columns : tuple of str
        The canonical panel or arcs-table column(s) it feeds (``geo_point_2d`` feeds two).
    meta : bool
        It describes the arc (it feeds the arcs table, not the panel).
    """

    name: str
    label: str
    aliases: tuple[str, ...]
    type: str
    columns: tuple[str, ...]
    meta: bool = False

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every header spelling of the field: name, label, aliases and its single column."""
        column = self.columns if len(self.columns) == 1 else ()
        return (self.name, self.label, *self.aliases, *column)


#: One row per raw field, in the producer's order.
FIELD_TABLE: tuple[Field, ...] = (
    Field("iu_ac", "Identifiant arc", ("Identifiant de l'arc",), "int", ("arc_id",)),
    Field("libelle", "Libelle", ("Libellé",), "text", ("name",), meta=True),
    Field("t_1h", "Date et heure de comptage", (), "datetime", ("time",)),
    Field("q", "Débit horaire", (), "float", ("flow",)),
    Field("k", "Taux d'occupation", (), "float", ("occupancy",)),
    Field("etat_trafic", "Etat trafic", (), "state", ("traffic_state",)),
    Field("iu_nd_amont", "Identifiant noeud amont", (), "text", ("upstream_node_id",), meta=True),
    Field(
        "libelle_nd_amont", "Libelle noeud amont", (), "text", ("upstream_node_name",), meta=True
    ),
    Field("iu_nd_aval", "Identifiant noeud aval", (), "text", ("downstream_node_id",), meta=True),
    Field(
        "libelle_nd_aval", "Libelle noeud aval", (), "text", ("downstream_node_name",), meta=True
    ),
    Field("etat_barre", "Etat arc", (), "state", ("closure_state",)),
    Field("date_debut", "Date debut dispo data", (), "text", ("valid_from",), meta=True),
    Field("date_fin", "Date fin dispo data", (), "text", ("valid_to",), meta=True),
    Field(
        "geo_point_2d", "geo_point_2d", ("Geo point", "geo point 2d"), "text", ("lat", "lon"), True
    ),
    Field("geo_shape", "geo_shape", ("Geo shape",), "text", ("geometry",), meta=True),
)

_BY_NAME: dict[str, Field] = {f.name: f for f in FIELD_TABLE}

#: Raw field names of the dataset, in the producer's order.
FIELDS: tuple[str, ...] = tuple(f.name for f in FIELD_TABLE)

#: Raw field name -> the portal's label (``use_labels=true`` exports, web UI).
FIELD_LABELS: dict[str, str] = {f.name: f.label for f in FIELD_TABLE}

#: Raw fields read as text whatever they look like (times, names, nodes, dates, geometry).
TEXT_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELD_TABLE if f.type in ("text", "datetime"))

#: Raw fields describing the arc (they feed the arcs table); ``_geo_lon`` is the second half of
#: a ``geo_point_2d`` split into two columns by a re-save.
META_FIELDS: tuple[str, ...] = tuple(
    name
    for f in FIELD_TABLE
    if f.meta
    for name in ((f.name, "_geo_lon") if f.name == "geo_point_2d" else (f.name,))
)

#: Field order of the yearly archive's files, written without a header line.
ARCHIVE_ORDER: tuple[str, ...] = (
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
)


def column_of(name: str) -> str:
    """Return the canonical column a raw field feeds (``q`` -> ``flow``).

    Examples
    --------
    >>> column_of("q"), column_of("etat_barre")
    ('flow', 'closure_state')
    """
    return _BY_NAME[name].columns[0]


_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_VOWELS = re.compile(r"[aeiouy]+")


def label_key(label: object) -> str:
    r"""Return the comparison key of a label: no accents, lower case, letters and digits only.

    Parameters
    ----------
    label : object
        A column or state label (anything; converted with ``str``).

    Returns
    -------
    str
        The key.

    Examples
    --------
    >>> label_key("Débit horaire"), label_key("D\ufffdbit horaire"), label_key("t_1h")
    ('debithoraire', 'dbithoraire', 't1h')
    """
    text = unicodedata.normalize("NFKD", str(label))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NON_ALNUM.sub("", text.lower())


def label_skeleton(label: object) -> str:
    r"""Return the consonant skeleton of a label (its key without vowels).

    A lost accented vowel (``Pr�-satur�``) or a mojibake one (``PrÃ©-saturÃ©``) leaves the
    skeleton unchanged, so it still identifies the label.

    Parameters
    ----------
    label : object
        A column or state label.

    Returns
    -------
    str
        The skeleton.

    Examples
    --------
    >>> label_skeleton("Pré-saturé") == label_skeleton("Pr\ufffd-satur\ufffd") == "prstr"
    True
    """
    return _VOWELS.sub("", label_key(label))


def _column_tables() -> tuple[dict[str, str], dict[str, str]]:
    keys: dict[str, str] = {}
    skeletons: dict[str, str] = {}
    for field in FIELD_TABLE:
        for spelling in field.spellings:
            keys.setdefault(label_key(spelling), field.name)
            skel = label_skeleton(spelling)
            if len(skel) >= 3:
                skeletons.setdefault(skel, field.name)
    return keys, skeletons


_COLUMN_KEYS, _COLUMN_SKELETONS = _column_tables()


def _match_column(label: str) -> str | None:
    key = label_key(label)
    if key in _COLUMN_KEYS:
        return _COLUMN_KEYS[key]
    return _COLUMN_SKELETONS.get(label_skeleton(label))


def map_columns(columns: Sequence[object]) -> dict[str, int]:
    r"""Map the raw field names to column positions of a header, whatever the labels' spelling.

    Unknown columns (a leading index, ``dessin``, ``diff``, ``Unnamed: 14``) are ignored; when two
    columns map to the same field the first one wins. The special key ``"_geo_lon"`` points at an
    unnamed column right after ``geo_point_2d``: a re-saved file may have split ``"lat, lon"``
    into two columns.

    Parameters
    ----------
    columns : sequence of object
        The header labels, in order.

    Returns
    -------
    dict of str to int
        Raw field name -> 0-based column position.

    Examples
    --------
    >>> map_columns(["", "Identifiant arc", "Date et heure de comptage", "D\ufffdbit horaire"])
    {'iu_ac': 1, 't_1h': 2, 'q': 3}
    """
    found: dict[str, int] = {}
    for pos, label in enumerate(columns):
        field = _match_column(str(label))
        if field is not None and field not in found:
            found[field] = pos
    geo = found.get("geo_point_2d")
    if geo is not None and geo + 1 < len(columns):
        nxt = str(columns[geo + 1]).strip()
        if nxt == "" or nxt.lower().startswith("unnamed"):
            found["_geo_lon"] = geo + 1
    return found


def describe_columns(columns: Iterable[object]) -> str:
    """Return a short, quoted listing of header labels for error messages.

    Examples
    --------
    >>> describe_columns(["iu_ac", "x"])
    "'iu_ac', 'x'"
    """
    shown = [repr(str(c)) for c in columns]
    if len(shown) > 20:
        shown = [*shown[:20], "..."]
    return ", ".join(shown) if shown else "(none)"


def _state_tables(states: dict[int, str]) -> tuple[dict[str, int], dict[str, int], int]:
    keys = {label_key(v): k for k, v in states.items()}
    skels = {label_skeleton(v): k for k, v in states.items()}
    return keys, skels, max(states)


#: The code tables of the two state fields, from :data:`~infotrafic.TRAFFIC_STATES` and
#: :data:`~infotrafic.CLOSURE_STATES`.
_STATES = {
    "etat_trafic": _state_tables(TRAFFIC_STATES),
    "etat_barre": _state_tables(CLOSURE_STATES),
}


def state_code(field: str, value: object) -> int | None:
    r"""Return the code of a state label or number of ``field``; ``None`` when unknown.

    The one state mapper of the library. Numbers must be whole codes of the field's table;
    labels match whatever their accents or case (key, then skeleton, see :func:`label_key`).

    Parameters
    ----------
    field : {"etat_trafic", "etat_barre"}
        The raw state field.
    value : object
        ``"Fluide"``, ``"Pr\ufffd-satur\ufffd"``, ``2``, ``"2.0"``, ...

    Returns
    -------
    int or None
        A key of :data:`~infotrafic.TRAFFIC_STATES` or :data:`~infotrafic.CLOSURE_STATES`.

    Examples
    --------
    >>> state_code("etat_trafic", "SATURE"), state_code("etat_barre", "Barr\ufffd")
    (3, 2)
    >>> state_code("etat_barre", "9") is None
    True
    """
    keys, skels, top = _STATES[field]
    text = str(value).strip()
    try:
        number: float | None = float(text)
    except ValueError:
        number = None
    if number is not None:
        if math.isfinite(number) and number == int(number) and 0 <= number <= top:
            return int(number)
        return None
    key = label_key(text)
    if key in keys:
        return keys[key]
    return skels.get(label_skeleton(text))


def traffic_code_for(value: object) -> int | None:
    r"""Return the ``etat_trafic`` code of a label or number, ``None`` when unknown.

    Examples
    --------
    >>> [traffic_code_for(v) for v in ["Fluide", "Pré-saturé", "SATURE", "4.0", "x"]]
    [1, 2, 3, 4, None]
    """
    return state_code("etat_trafic", value)


def closure_code_for(value: object) -> int | None:
    r"""Return the ``etat_barre`` code of a label or number, ``None`` when unknown.

    Examples
    --------
    >>> [closure_code_for(v) for v in ["Invalide", "Barr\ufffd", "1", "9"]]
    [3, 2, 1, None]
    """
    return state_code("etat_barre", value)
