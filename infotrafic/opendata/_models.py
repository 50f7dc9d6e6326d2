"""Typed models of what the portal answers: records (v2.1 flat and v1 envelopes), metadata.

Real answers drift (see ``shared/data/README.md``): ids come as strings, ``q``/``k`` as ``null``
(v2.1) or absent (v1), ``geo_point_2d`` as ``{"lon", "lat"}``, ``[lat, lon]`` or ``"lat, lon"``,
``geo_shape`` as a GeoJSON ``Feature`` or a bare geometry (or a JSON string of one in CSV).
The models accept all of these and expose one typed shape.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from infotrafic._fields import state_code as field_state_code
from infotrafic._schema import ARC_COLUMNS
from infotrafic.opendata._parse import canonical

__all__ = [
    "Attachment",
    "DatasetField",
    "DatasetInfo",
    "GeoPoint",
    "Geometry",
    "RecordsPage",
    "TrafficRecord",
    "V1Record",
    "V1SearchResponse",
    "records_to_arcs",
    "records_to_panel",
    "state_code",
]


def state_code(value: object, kind: str) -> int | None:
    """Turn an ``etat_trafic``/``etat_barre`` label or code into its integer code.

    The library's one state mapper (:func:`infotrafic._fields.state_code`; missing values give
    ``None``).

    Parameters
    ----------
    value : object
        A label such as ``"Fluide"``, an integer code, or a missing value.
    kind : {"traffic", "closure"}
        Which list of labels applies.

    Returns
    -------
    int or None
        The code, or ``None`` for missing or unknown values (codes outside the list included).

    Examples
    --------
    >>> state_code("Pré-saturé", "traffic"), state_code("Barré", "closure"), state_code(None, "x")
    (2, 2, None)
    """
    return field_state_code("etat_trafic" if kind == "traffic" else "etat_barre", value)


class GeoPoint(BaseModel):
    """A point in WGS84 degrees.

    Accepts ``{"lon": .., "lat": ..}`` (v2.1), ``[lat, lon]`` (v1) and ``"lat, lon"`` (CSV).

    Examples
    --------
    >>> GeoPoint.model_validate([48.87, 2.30]) == GeoPoint.model_validate("48.87, 2.30")
    True
    """

    model_config = ConfigDict(frozen=True)

    lat: float
    lon: float

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
            if len(parts) != 2:
                raise ValueError(f"expected 'lat, lon', got {value!r}")
            value = [float(p) for p in parts]
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError(f"expected [lat, lon], got {value!r}")
            return {"lat": value[0], "lon": value[1]}
        return value


class Geometry(BaseModel):
    """A GeoJSON geometry (the ``Feature`` wrapper, when present, is removed).

    Examples
    --------
    >>> g = Geometry.from_any({"type": "Feature", "properties": {},
    ...     "geometry": {"type": "LineString", "coordinates": [[2.3, 48.8], [2.4, 48.9]]}})
    >>> g.type, len(g.coordinates)
    ('LineString', 2)
    """

    model_config = ConfigDict(frozen=True)

    type: str
    coordinates: Any

    @classmethod
    def from_any(cls, value: Any) -> Geometry | None:
        """Build from a Feature, a bare geometry, a JSON string of either, or ``None``.

        Parameters
        ----------
        value : object
            What the portal sent.

        Returns
        -------
        Geometry or None
            ``None`` when nothing usable was sent.
        """
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            return None
        if isinstance(value, str):
            value = json.loads(value)
        if isinstance(value, Geometry):
            return value
        if isinstance(value, dict) and value.get("type") == "Feature":
            value = value.get("geometry")
            if value is None:
                return None
        return cls.model_validate(value)

    def to_json(self) -> str:
        """Return the geometry as a compact GeoJSON string."""
        return json.dumps({"type": self.type, "coordinates": self.coordinates})


class TrafficRecord(BaseModel):
    """One (arc, hour) record of ``comptages-routiers-permanents``, whatever its vintage.

    Examples
    --------
    >>> r = TrafficRecord.model_validate({"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00+01:00",
    ...                                   "q": None, "etat_trafic": "Fluide"})
    >>> r.iu_ac, r.q, r.traffic_state, r.t_1h.isoformat()
    (4264, None, 1, '2023-02-01T23:00:00+01:00')
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    iu_ac: int
    t_1h: _dt.datetime
    q: float | None = None
    k: float | None = None
    etat_trafic: str | None = None
    etat_barre: str | None = None
    libelle: str | None = None
    iu_nd_amont: int | None = None
    libelle_nd_amont: str | None = None
    iu_nd_aval: int | None = None
    libelle_nd_aval: str | None = None
    date_debut: str | None = None
    date_fin: str | None = None
    geo_point_2d: GeoPoint | None = None
    geo_shape: Geometry | None = None

    @field_validator("t_1h")
    @classmethod
    def _aware(cls, value: _dt.datetime) -> _dt.datetime:
        if value.tzinfo is None:
            raise ValueError("t_1h must carry a UTC offset (API answers always do)")
        return value

    @field_validator("etat_trafic", "etat_barre", "date_debut", "date_fin", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @field_validator("geo_shape", mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        return Geometry.from_any(value)

    @property
    def traffic_state(self) -> int | None:
        """The ``etat_trafic`` code (see :data:`infotrafic.TRAFFIC_STATES`)."""
        return state_code(self.etat_trafic, "traffic")

    @property
    def closure_state(self) -> int | None:
        """The ``etat_barre`` code (see :data:`infotrafic.CLOSURE_STATES`)."""
        return state_code(self.etat_barre, "closure")


class RecordsPage(BaseModel):
    """The answer of v2.1 ``/records``: ``total_count`` and a page of flat records."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    total_count: int
    results: list[TrafficRecord] = Field(default_factory=list)


class V1Record(BaseModel):
    """One record of the v1 ``/api/records/1.0/search`` envelope (null fields omitted)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    datasetid: str | None = None
    recordid: str | None = None
    fields: TrafficRecord
    geometry: Geometry | None = None
    record_timestamp: _dt.datetime | None = None


class V1SearchResponse(BaseModel):
    """A whole v1 search answer: ``nhits``, ``parameters``, ``records`` (facets ignored).

    Examples
    --------
    >>> v1 = V1SearchResponse.model_validate({"nhits": 1, "parameters": {}, "records": [
    ...     {"fields": {"iu_ac": "4366", "t_1h": "2023-02-01T23:00:00+00:00", "k": 6.3,
    ...                 "geo_point_2d": [48.87, 2.29]}}]})
    >>> v1.records[0].fields.q is None, v1.records[0].fields.geo_point_2d.lon
    (True, 2.29)
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    nhits: int
    parameters: dict[str, Any] = Field(default_factory=dict)
    records: list[V1Record] = Field(default_factory=list)

    @property
    def results(self) -> list[TrafficRecord]:
        """The flat records, as v2.1 would give them."""
        return [r.fields for r in self.records]


class DatasetField(BaseModel):
    """One field of a dataset's schema."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    label: str | None = None
    type: str | None = None
    description: str | None = None


class DatasetInfo(BaseModel):
    """Metadata of a dataset (``/catalog/datasets/{id}``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    dataset_id: str
    has_records: bool | None = None
    fields: list[DatasetField] = Field(default_factory=list)
    metas: dict[str, Any] = Field(default_factory=dict)

    @property
    def title(self) -> str | None:
        """The dataset's title."""
        value = self.metas.get("default", {}).get("title")
        return None if value is None else str(value)

    @property
    def records_count(self) -> int | None:
        """How many records the dataset holds."""
        value = self.metas.get("default", {}).get("records_count")
        return None if value is None else int(value)

    @property
    def modified(self) -> pd.Timestamp | None:
        """When the data was last modified (UTC)."""
        value = self.metas.get("default", {}).get("modified")
        return None if value is None else pd.Timestamp(value).tz_convert("UTC")


class Attachment(BaseModel):
    """One attachment of a dataset, e.g. a yearly ZIP of the historical archive."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    title: str
    url: str | None = None
    id: str | None = None
    mimetype: str | None = None
    href: str | None = None

    @property
    def year(self) -> int | None:
        """The year in the title (``opendata_txt_2022.zip`` -> 2022), if any."""
        match = re.search(r"(?<!\d)((?:19|20)\d\d)(?!\d)", self.title)
        return int(match.group(1)) if match else None


def records_to_panel(records: Iterable[TrafficRecord]) -> pd.DataFrame:
    """Turn records into a canonical panel (time = ``t_1h`` in UTC).

    Parameters
    ----------
    records : iterable of TrafficRecord
        Records of either vintage.

    Returns
    -------
    pandas.DataFrame
        A validated canonical panel, sorted by ``(arc_id, time)``; duplicated ``(arc, hour)`` rows
        are kept only once (the last one).

    Examples
    --------
    >>> recs = [TrafficRecord(iu_ac=1, t_1h="2024-01-01T01:00:00+01:00", q=5.0)]
    >>> records_to_panel(recs)[["arc_id", "time", "flow"]].to_dict("records")
    [{'arc_id': 1, 'time': Timestamp('2024-01-01 00:00:00+0000', tz='UTC'), 'flow': 5.0}]
    """
    rows = [
        (r.iu_ac, r.t_1h.astimezone(_dt.UTC), r.q, r.k, r.traffic_state, r.closure_state)
        for r in records
    ]
    frame = pd.DataFrame(
        rows,
        columns=["arc_id", "time", "flow", "occupancy", "traffic_state", "closure_state"],
    )
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for col in ("flow", "occupancy"):
        frame[col] = pd.to_numeric(frame[col]).astype("float64")
    for col in ("traffic_state", "closure_state"):
        frame[col] = pd.array(frame[col].tolist(), dtype="Int8")
    frame = frame.drop_duplicates(["arc_id", "time"], keep="last")
    return canonical(frame)


def records_to_arcs(records: Iterable[TrafficRecord]) -> pd.DataFrame:
    """Build an arcs table (:data:`infotrafic.ARC_COLUMNS`) from the attributes of records.

    Parameters
    ----------
    records : iterable of TrafficRecord
        Records; the last one seen for an arc wins.

    Returns
    -------
    pandas.DataFrame
        One row per arc, sorted by ``arc_id``.
    """
    by_arc: dict[int, dict[str, Any]] = {}
    for r in records:
        point = r.geo_point_2d
        by_arc[r.iu_ac] = {
            "arc_id": r.iu_ac,
            "name": r.libelle,
            "upstream_node_id": r.iu_nd_amont,
            "upstream_node_name": r.libelle_nd_amont,
            "downstream_node_id": r.iu_nd_aval,
            "downstream_node_name": r.libelle_nd_aval,
            "lat": point.lat if point else np.nan,
            "lon": point.lon if point else np.nan,
            "geometry": r.geo_shape.to_json() if r.geo_shape else None,
            "valid_from": r.date_debut,
            "valid_to": r.date_fin,
        }
    frame = pd.DataFrame([by_arc[a] for a in sorted(by_arc)], columns=list(ARC_COLUMNS))
    frame["arc_id"] = frame["arc_id"].astype("int64")
    for col in ("upstream_node_id", "downstream_node_id"):
        frame[col] = pd.array(frame[col].tolist(), dtype="Int64")
    return frame
