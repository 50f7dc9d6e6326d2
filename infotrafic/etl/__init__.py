"""Files of every regime -> the canonical panel (readers), plus the local store and quality.

Readers (:func:`read_file`, :func:`read_files`, :func:`iter_read`, :func:`read_arcs`) detect the
regime of a file from its content and return a :class:`ReadResult`: the canonical panel, the arcs
table, the quarantined rows and a :class:`ReadReport` of counts. Formats are sniffed by one
registry (:func:`register_format` adds one; a reader gives :class:`RawMember` pieces of raw
fields); :func:`write_parquet` writes a frame as parquet atomically.

Conventions (details in the data guide):

* ``time`` is the **end** of the counting hour (the producer's ``t_1h``) as a UTC instant.
  Timestamps with an offset are exact; naive ones are Europe/Paris wall clock
  (:func:`paris_to_utc`).
* DST: an empty row at the non-existent spring-forward hour is dropped and counted; one with a
  value is quarantined (``dst_nonexistent``); a single naive fall-back ``02:00`` is standard time
  (verified on the real files), a pair is summer time then standard time. Nothing is ever
  shifted by an hour.
* Duplicates (:func:`deduplicate`): prefer a non-null flow, then a non-null occupancy, then the
  last row in reading order (later files win).
* ``etat_barre`` is kept as ``closure_state`` and never used to filter rows.
"""

from infotrafic._formats import RawMember, register_format, unregister_format
from infotrafic.etl._arcs import empty_arcs
from infotrafic.etl._dedupe import DedupeStats, deduplicate
from infotrafic.etl._quality import (
    QualityReport,
    quality_of_files,
    quality_of_store,
    quality_report,
)
from infotrafic.etl._read import detect_kind, iter_read, read_arcs, read_file, read_files
from infotrafic.etl._result import FileReport, ReadReport, ReadResult
from infotrafic.etl._store import ParquetStore
from infotrafic.etl._store_util import IngestSummary, expand_paths, write_parquet
from infotrafic.etl._time import paris_to_utc

__all__ = [
    "DedupeStats",
    "FileReport",
    "IngestSummary",
    "ParquetStore",
    "QualityReport",
    "RawMember",
    "ReadReport",
    "ReadResult",
    "deduplicate",
    "detect_kind",
    "empty_arcs",
    "expand_paths",
    "iter_read",
    "paris_to_utc",
    "quality_of_files",
    "quality_of_store",
    "quality_report",
    "read_arcs",
    "read_file",
    "read_files",
    "register_format",
    "unregister_format",
    "write_parquet",
]
