"""Bulk fetches through ``/exports``: time slices, files on disk, verification, resume, sync."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pandas as pd

from infotrafic._schema import empty_panel
from infotrafic._types import PathLike
from infotrafic.exceptions import ConfigurationError, OpenDataError
from infotrafic.opendata._parse import EXPORT_FORMATS, ParsedSlice, canonical, parse_export
from infotrafic.opendata._query import Slice, make_slices

if TYPE_CHECKING:
    from infotrafic.opendata._client import OpenDataClient

__all__ = ["DEFAULT_FIELDS", "FetchSummary", "StoreLike", "fetch_range", "sync_store"]

#: Fields exported by default: what the canonical panel needs.
DEFAULT_FIELDS: tuple[str, ...] = ("iu_ac", "t_1h", "q", "k", "etat_trafic", "etat_barre")
_MANIFEST = "manifest.json"
logger = logging.getLogger("infotrafic.opendata")


@runtime_checkable
class StoreLike(Protocol):
    """What the client needs from a store (:class:`infotrafic.etl.ParquetStore` has it)."""

    def ingest(self, data: Any) -> Any:
        """Merge a canonical panel into the store (idempotent)."""

    def latest_time(self, arcs: Sequence[int] | None = None) -> dict[int, pd.Timestamp]:
        """Newest stored ``time`` per arc."""


@dataclass
class FetchSummary:
    """What a :meth:`~infotrafic.opendata.OpenDataClient.fetch` or ``sync`` did.

    Attributes
    ----------
    slices : int
        Slices planned.
    downloaded : int
        Slices downloaded in this run.
    resumed : int
        Slices skipped because a previous run completed them.
    empty : int
        Slices the portal counted as empty (no export asked).
    rows : int
        Rows parsed from the downloaded slices.
    quarantined : int
        Rows rejected (no usable id or time, outside the query); see the ``.quarantine.csv``
        file written next to the slice.
    duplicates : int
        Repeated ``(arc, hour)`` rows dropped inside slices.
    bytes : int
        Bytes written to disk.
    files : list of pathlib.Path
        Slice files on disk.
    ingested : list
        What the store's ``ingest`` returned for each slice.
    seconds : float
        Wall-clock duration.
    """

    slices: int = 0
    downloaded: int = 0
    resumed: int = 0
    empty: int = 0
    rows: int = 0
    quarantined: int = 0
    duplicates: int = 0
    bytes: int = 0
    files: list[Path] = field(default_factory=list)
    ingested: list[Any] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: FetchSummary) -> FetchSummary:
        """Return the sum of two summaries (used by :meth:`sync` over groups of arcs)."""
        return FetchSummary(
            slices=self.slices + other.slices,
            downloaded=self.downloaded + other.downloaded,
            resumed=self.resumed + other.resumed,
            empty=self.empty + other.empty,
            rows=self.rows + other.rows,
            quarantined=self.quarantined + other.quarantined,
            duplicates=self.duplicates + other.duplicates,
            bytes=self.bytes + other.bytes,
            files=[*self.files, *other.files],
            ingested=[*self.ingested, *other.ingested],
            seconds=self.seconds + other.seconds,
        )

    def __str__(self) -> str:
        return (
            f"{self.slices} slices ({self.downloaded} downloaded, {self.resumed} resumed, "
            f"{self.empty} empty), {self.rows} rows, {self.quarantined} quarantined, "
            f"{self.duplicates} duplicates dropped, {self.bytes / 1e6:.1f} MB "
            f"in {self.seconds:.1f} s"
        )


class _Manifest:
    """Completed slices, persisted atomically after each one."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / _MANIFEST
        self.done: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                self.done = json.loads(self.path.read_text(encoding="utf-8")).get("slices", {})
            except ValueError:
                self.done = {}  # a broken manifest only costs a re-download

    def record(self, key: str, info: dict[str, Any]) -> None:
        self.done[key] = info
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"version": 1, "slices": self.done}, indent=1), "utf-8")
        os.replace(tmp, self.path)


def _count(client: OpenDataClient, where: str) -> int | None:
    """Ask the portal's count of a slice; ``None`` when it cannot count (e.g. no ``/records``).

    The count is a check of the export, not a need: a portal that refuses it (404, unexpected
    answer) only loses that check. Quota, server, transport and query errors still propagate.
    """
    try:
        return client.count_where(where)
    except OpenDataError as exc:
        if type(exc) is not OpenDataError:
            raise
        logger.warning("cannot count records (%s); row counts of exports are not checked", exc)
        return None


def _default_dir(store: StoreLike | None) -> Path | None:
    raw = getattr(store, "raw_dir", None)
    return Path(raw) / "opendata" if raw is not None else None


def _check_slice(parsed: ParsedSlice, sl: Slice, expected: int | None, path: Path) -> ParsedSlice:
    """Verify a parsed slice: row count, no rows outside the query, no cut last line."""
    if expected is not None:
        final = sl.end <= pd.Timestamp.now(tz="UTC")
        short = parsed.rows < expected if not final else parsed.rows != expected
        if short:
            raise ValueError(f"{path.name}: {parsed.rows} rows, the portal counted {expected}")
    if len(parsed.quarantine) and path.suffix in (".csv", ".jsonl"):
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 1))
            if fh.read(1) != b"\n":
                raise ValueError(f"{path.name}: last line cut short")
    panel = parsed.panel
    inside = (panel["time"] >= sl.start) & (panel["time"] < sl.end)
    if sl.arcs is not None:
        inside &= panel["arc_id"].isin(list(sl.arcs))
    if inside.all():
        return parsed
    outside = panel[~inside]
    extra = pd.DataFrame(
        {
            "file": path.name,
            "line": pd.NA,
            "field": "iu_ac/t_1h",
            "reason": "outside the query (arc or time not asked for)",
            "raw": outside["arc_id"].astype(str) + ";" + outside["time"].astype(str),
        }
    )
    return ParsedSlice(
        panel[inside].reset_index(drop=True),
        parsed.rows,
        pd.concat([parsed.quarantine, extra], ignore_index=True),
        parsed.duplicates,
    )


def fetch_range(
    client: OpenDataClient,
    arcs: list[int] | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    store: StoreLike | None,
    out_dir: PathLike | None,
    fields: Sequence[str] | None,
    slice_freq: str,
    export_format: str,
    progress: bool,
) -> pd.DataFrame | FetchSummary:
    """Implement :meth:`OpenDataClient.fetch` (see there)."""
    if export_format not in EXPORT_FORMATS:
        raise ConfigurationError(
            f"export_format {export_format!r} cannot be read back; use one of {EXPORT_FORMATS}"
        )
    slices = make_slices(arcs, start, end, slice_freq)
    select = ", ".join(dict.fromkeys(["iu_ac", "t_1h", *(fields or DEFAULT_FIELDS)]))
    directory = Path(out_dir) if out_dir is not None else _default_dir(store)
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if directory is None:
        tmp = tempfile.TemporaryDirectory(prefix="infotrafic-fetch-")
        directory = Path(tmp.name)
    panels: list[pd.DataFrame] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        whole = Slice(slices[0].arcs, start, end)
        if len(slices) > 1 and _count(client, whole.where) == 0:
            summary = FetchSummary(slices=len(slices), empty=len(slices))
        else:
            summary, panels = _run_slices(
                client, slices, directory, select, export_format, store, progress
            )
    finally:
        if tmp is not None:
            tmp.cleanup()
    if store is not None:
        return summary
    if not panels:
        return empty_panel()
    merged = pd.concat(panels, ignore_index=True)
    return canonical(merged.drop_duplicates(["arc_id", "time"], keep="last"))


def _run_slices(
    client: OpenDataClient,
    slices: list[Slice],
    directory: Path,
    select: str,
    export_format: str,
    store: StoreLike | None,
    progress: bool,
) -> tuple[FetchSummary, list[pd.DataFrame]]:
    from tqdm.auto import tqdm

    began = time.monotonic()
    manifest = _Manifest(directory)
    summary = FetchSummary(slices=len(slices))
    panels: list[pd.DataFrame] = []
    flavour = hashlib.sha1(f"{client.dataset}|{select}|{export_format}".encode()).hexdigest()[:6]
    bar = tqdm(slices, desc="fetch", unit="slice", disable=not progress, leave=True)
    for sl in bar:
        bar.set_postfix_str(sl.label)
        key = f"{sl.key}_{flavour}"
        path = directory / f"{key}.{export_format}"
        done = manifest.done.get(key)
        if done is not None and done.get("final") and (done.get("empty") or path.exists()):
            summary.resumed += 1
            if store is None and not done.get("empty"):
                panels.append(_check_slice(parse_export(path, export_format), sl, None, path).panel)
            if not done.get("empty"):
                summary.files.append(path)
            continue
        final = sl.end <= pd.Timestamp.now(tz="UTC")
        expected = _count(client, sl.where)
        if expected == 0:
            summary.empty += 1
            manifest.record(key, {"empty": True, "final": final, "rows": 0})
            continue

        def verify(part: Path, sl: Slice = sl, expected: int | None = expected) -> ParsedSlice:
            return _check_slice(parse_export(part, export_format), sl, expected, part)

        parsed: ParsedSlice = client.download(
            client.export_url(export_format),
            path,
            {"select": select, "where": sl.where, "order_by": "t_1h", "timezone": "UTC"},
            what=f"export {sl.label}",
            verify=verify,
        )
        if len(parsed.quarantine):
            parsed.quarantine.to_csv(path.with_name(path.name + ".quarantine.csv"), index=False)
        if store is not None:
            summary.ingested.append(store.ingest(parsed))
        else:
            panels.append(parsed.panel)
        summary.downloaded += 1
        summary.rows += parsed.rows
        summary.quarantined += len(parsed.quarantine)
        summary.duplicates += parsed.duplicates
        summary.bytes += path.stat().st_size
        summary.files.append(path)
        manifest.record(key, {"file": path.name, "rows": parsed.rows, "final": final})
    summary.seconds = time.monotonic() - began
    return summary, panels


def _fetch_into_store(client: OpenDataClient, *args: Any, **kwargs: Any) -> FetchSummary:
    result = fetch_range(client, *args, **kwargs)
    assert isinstance(result, FetchSummary)
    return result


def sync_store(
    client: OpenDataClient,
    store: StoreLike,
    arcs: list[int] | None,
    *,
    out_dir: PathLike | None,
    slice_freq: str,
    progress: bool,
) -> FetchSummary:
    """Implement :meth:`OpenDataClient.sync` (see there)."""
    latest = store.latest_time(arcs)
    wanted = arcs if arcs is not None else sorted(latest)
    if not wanted:
        raise ConfigurationError(
            "the store holds no arc yet: name the arcs to sync (e.g. --arc 4264)"
        )
    groups: dict[pd.Timestamp | None, list[int]] = {}
    for arc in wanted:
        last = latest.get(arc)
        groups.setdefault(None if last is None else pd.Timestamp(last), []).append(arc)
    total = FetchSummary()
    for last, group in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0])):
        bounds = client.time_bounds(group)
        if bounds is None:
            continue
        oldest, newest = bounds
        start = oldest if last is None else last.tz_convert("UTC") + pd.Timedelta(hours=1)
        end = newest + pd.Timedelta(hours=1)
        if start >= end:
            continue
        summary = _fetch_into_store(
            client,
            group,
            start,
            end,
            store=store,
            out_dir=out_dir,
            fields=None,
            slice_freq=slice_freq,
            export_format="csv",
            progress=progress,
        )
        total = total.merge(summary)
    return total
