"""Robust matching of column labels and state labels, whatever their spelling.

The portal's files name the same field in several ways: raw field names (``iu_ac``, ``t_1h``,
``q``), French labels (``Identifiant arc``, ``Date et heure de comptage``, ``Débit horaire``) and
those labels after a careless re-save (``D�bit horaire``, ``Debit horaire``, ``DÃ©bit horaire``).
Labels are compared on a *key* (accents removed, lower case, letters and digits only) and, failing
that, on a *skeleton* (the key without vowels), which survives a lost or mangled accented letter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from infotrafic._schema import CLOSURE_STATES, TRAFFIC_STATES

__all__ = [
    "FIELDS",
    "closure_code_for",
    "label_key",
    "label_skeleton",
    "map_columns",
    "traffic_code_for",
]

#: Raw field names of the dataset, in the producer's order.
FIELDS: tuple[str, ...] = (
    "iu_ac",
    "libelle",
    "t_1h",
    "q",
    "k",
    "etat_trafic",
    "iu_nd_amont",
    "libelle_nd_amont",
    "iu_nd_aval",
    "libelle_nd_aval",
    "etat_barre",
    "date_debut",
    "date_fin",
    "geo_point_2d",
    "geo_shape",
)

_ALIASES: dict[str, tuple[str, ...]] = {
    "iu_ac": ("iu_ac", "Identifiant arc", "arc_id", "Identifiant de l'arc"),
    "libelle": ("libelle", "Libelle", "Libellé", "name"),
    "t_1h": ("t_1h", "Date et heure de comptage", "time"),
    "q": ("q", "Débit horaire", "flow"),
    "k": ("k", "Taux d'occupation", "occupancy"),
    "etat_trafic": ("etat_trafic", "Etat trafic", "traffic_state"),
    "iu_nd_amont": ("iu_nd_amont", "Identifiant noeud amont", "upstream_node_id"),
    "libelle_nd_amont": ("libelle_nd_amont", "Libelle noeud amont", "upstream_node_name"),
    "iu_nd_aval": ("iu_nd_aval", "Identifiant noeud aval", "downstream_node_id"),
    "libelle_nd_aval": ("libelle_nd_aval", "Libelle noeud aval", "downstream_node_name"),
    "etat_barre": ("etat_barre", "Etat arc", "closure_state"),
    "date_debut": ("date_debut", "Date debut dispo data", "valid_from"),
    "date_fin": ("date_fin", "Date fin dispo data", "valid_to"),
    "geo_point_2d": ("geo_point_2d", "Geo point", "geo point 2d"),
    "geo_shape": ("geo_shape", "Geo shape", "geometry"),
}

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


def _build(aliases: dict[str, tuple[str, ...]]) -> tuple[dict[str, str], dict[str, str]]:
    keys: dict[str, str] = {}
    skeletons: dict[str, str] = {}
    for field, names in aliases.items():
        for name in names:
            keys.setdefault(label_key(name), field)
            skel = label_skeleton(name)
            if len(skel) >= 3:
                skeletons.setdefault(skel, field)
    return keys, skeletons


_COLUMN_KEYS, _COLUMN_SKELETONS = _build(_ALIASES)


def _match_column(label: str) -> str | None:
    key = label_key(label)
    if key in _COLUMN_KEYS:
        return _COLUMN_KEYS[key]
    skel = label_skeleton(label)
    return _COLUMN_SKELETONS.get(skel)


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


def _code_tables(states: dict[int, str]) -> tuple[dict[str, int], dict[str, int]]:
    keys = {label_key(v): k for k, v in states.items()}
    skels = {label_skeleton(v): k for k, v in states.items()}
    return keys, skels


_TRAFFIC = _code_tables(TRAFFIC_STATES)
_CLOSURE = _code_tables(CLOSURE_STATES)


def _code_for(value: object, tables: tuple[dict[str, int], dict[str, int]], top: int) -> int | None:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if number == int(number) and 0 <= number <= top:
            return int(number)
        return None
    keys, skels = tables
    key = label_key(text)
    if key in keys:
        return keys[key]
    return skels.get(label_skeleton(text))


def traffic_code_for(value: object) -> int | None:
    r"""Return the ``etat_trafic`` code of a label or number, ``None`` when unknown.

    Parameters
    ----------
    value : object
        ``"Fluide"``, ``"Pr\ufffd-satur\ufffd"``, ``2``, ``"2.0"``, ...

    Returns
    -------
    int or None
        A key of :data:`~infotrafic.TRAFFIC_STATES`.

    Examples
    --------
    >>> [traffic_code_for(v) for v in ["Fluide", "Pré-saturé", "SATURE", "4.0", "x"]]
    [1, 2, 3, 4, None]
    """
    return _code_for(value, _TRAFFIC, max(TRAFFIC_STATES))


def closure_code_for(value: object) -> int | None:
    r"""Return the ``etat_barre`` code of a label or number, ``None`` when unknown.

    Parameters
    ----------
    value : object
        ``"Ouvert"``, ``"Barr\ufffd"``, ``3``, ...

    Returns
    -------
    int or None
        A key of :data:`~infotrafic.CLOSURE_STATES`.

    Examples
    --------
    >>> [closure_code_for(v) for v in ["Invalide", "Barr\ufffd", "1", "9"]]
    [3, 2, 1, None]
    """
    return _code_for(value, _CLOSURE, max(CLOSURE_STATES))


def describe_columns(columns: Iterable[object]) -> str:
    """Return a short, quoted listing of header labels for error messages."""
    shown = [repr(str(c)) for c in columns]
    if len(shown) > 20:
        shown = [*shown[:20], "..."]
    return ", ".join(shown) if shown else "(none)"
