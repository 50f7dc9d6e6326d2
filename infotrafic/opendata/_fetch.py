"""Bulk fetches through ``/exports``: time slices, files on disk, verification, resume, sync.

:class:`Fetcher` holds the client's :class:`~infotrafic.opendata._http.HttpCore` (composition,
not inheritance): it asks the core for counts, time bounds and downloads, and knows nothing of
:class:`~infotrafic.opendata.OpenDataClient`, which calls it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from infotrafic._io import atomic_write, atomic_write_text
from infotrafic._schema import empty_panel
from infotrafic._types import PathLike
from infotrafic.exceptions import ConfigurationError, IncompleteFetchError, OpenDataError
from infotrafic.opendata._http import HttpCore
from infotrafic.opendata._parse import EXPORT_FORMATS, ParsedSlice, canonical, parse_export
from infotrafic.opendata._query import Slice, make_slices
from infotrafic.opendata._verify import check_slice, tail_problem

__all__ = ["DEFAULT_FIELDS", "FetchSummary", "Fetcher", "StoreLike"]

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
    unverified : list of str
        Slices downloaded but not proven complete (label and reason): their well-formed rows
        were kept, they are not recorded as done, and the next run downloads them again.
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
    unverified: list[str] = field(default_factory=list)
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
            unverified=[*self.unverified, *other.unverified],
            bytes=self.bytes + other.bytes,
            files=[*self.files, *other.files],
            ingested=[*self.ingested, *other.ingested],
            seconds=self.seconds + other.seconds,
        )

    def __str__(self) -> str:
        return (
            f"{self.slices} slices ({self.downloaded} downloaded, {self.resumed} resumed, "
            f"{self.empty} empty), {self.rows} rows, {self.quarantined} quarantined, "
            f"{self.duplicates} duplicates dropped, "
            + (f"{len(self.unverified)} NOT VERIFIED, " if self.unverified else "")
            + f"{self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s"
        )

    def raise_unverified(self, result: Any = None) -> None:
        """Raise :class:`~infotrafic.exceptions.IncompleteFetchError` if a slice is unverified.

        Parameters
        ----------
        result : object, optional
            What the fetch returns (default: this summary), carried by the error.
        """
        if not self.unverified:
            return
        listed = "; ".join(self.unverified)
        raise IncompleteFetchError(
            f"{len(self.unverified)} slice(s) could not be verified complete, so they are not "
            f"recorded as done (their well-formed rows were kept): {listed}. Run the same "
            "command again to download them again (a portal that counts records verifies them)",
            slices=self.unverified,
            result=self if result is None else result,
        )


class _Manifest:
    """Slices downloaded so far, persisted atomically after each one.

    An entry with a ``check`` (``"count"`` or ``"hours"``) or ``empty`` is done; one with
    ``"verified": false`` is pending (its rows were kept, it is downloaded again). Entries of
    version 1 manifests, written before every slice was verified, have neither: they are
    counted again before being trusted.
    """

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
        atomic_write_text(self.path, json.dumps({"version": 2, "slices": self.done}, indent=1))

    def pending(self) -> list[dict[str, Any]]:
        """Entries of unverified slices (with their bounds, arcs, fields and format)."""
        return [e for e in self.done.values() if e.get("verified") is False and "start" in e]


def _count(http: HttpCore, where: str) -> int | None:
    """Ask the portal's count of a slice; ``None`` when it cannot count (e.g. no ``/records``).

    Without a count a slice must prove itself complete by its hours (see
    :mod:`infotrafic.opendata._verify`). Quota, server, transport and query errors propagate.
    """
    try:
        return http.count_where(where)
    except OpenDataError as exc:
        if type(exc) is not OpenDataError:
            raise
        logger.warning(
            "cannot count records (%s); each slice must then reach its last hour for every arc "
            "to be recorded as done",
            exc,
        )
        return None


def _default_dir(store: StoreLike | None) -> Path | None:
    raw = getattr(store, "raw_dir", None)
    return Path(raw) / "opendata" if raw is not None else None


class Fetcher:
    """Fetch slices of the portal's dataset through ``/exports`` into files, a panel or a store.

    Parameters
    ----------
    http : HttpCore
        The HTTP core it sends its requests through (the client's).
    """

    def __init__(self, http: HttpCore) -> None:
        self.http = http

    def fetch(
        self,
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
        slices: list[Slice] | None = None,
        raise_unverified: bool = True,
    ) -> pd.DataFrame | FetchSummary:
        """Implement :meth:`OpenDataClient.fetch` (see there); ``slices`` overrides the cutting."""
        if export_format not in EXPORT_FORMATS:
            raise ConfigurationError(
                f"export_format {export_format!r} cannot be read back; use one of {EXPORT_FORMATS}"
            )
        if slices is None:
            slices = make_slices(arcs, start, end, slice_freq)
        select = ", ".join(dict.fromkeys(["iu_ac", "t_1h", *(fields or DEFAULT_FIELDS)]))
        directory = Path(out_dir) if out_dir is not None else _default_dir(store)
        tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            tmp = tempfile.TemporaryDirectory(prefix="infotrafic-fetch-")
            directory = Path(tmp.name)
        panels: list[pd.DataFrame] = []
        count = _Counter(self.http)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            whole = Slice(slices[0].arcs, start, end)
            if len(slices) > 1 and count(whole.where) == 0:
                summary = FetchSummary(slices=len(slices), empty=len(slices))
            else:
                summary, panels = _run_slices(
                    self.http, count, slices, directory, select, export_format, store, progress
                )
        finally:
            if tmp is not None:
                tmp.cleanup()
        if store is not None:
            result: pd.DataFrame | FetchSummary = summary
        elif not panels:
            result = empty_panel()
        else:
            merged = pd.concat(panels, ignore_index=True)
            result = canonical(merged.drop_duplicates(["arc_id", "time"], keep="last"))
        if raise_unverified:
            summary.raise_unverified(result)
        return result

    def sync(
        self,
        store: StoreLike,
        arcs: list[int] | None,
        *,
        out_dir: PathLike | None,
        slice_freq: str,
        progress: bool,
    ) -> FetchSummary:
        """Implement :meth:`OpenDataClient.sync` (see there)."""
        directory = Path(out_dir) if out_dir is not None else _default_dir(store)
        total = FetchSummary()
        if directory is not None:
            total = self._retry_pending(store, arcs, directory, progress)
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
        for last, group in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0])):
            bounds = self.http.time_bounds(group)
            if bounds is None:
                continue
            oldest, newest = bounds
            start = oldest if last is None else last.tz_convert("UTC") + pd.Timedelta(hours=1)
            end = newest + pd.Timedelta(hours=1)
            if start >= end:
                continue
            summary = self._into_store(
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
        total.raise_unverified()
        return total

    def _into_store(self, *args: Any, **kwargs: Any) -> FetchSummary:
        result = self.fetch(*args, raise_unverified=False, **kwargs)
        assert isinstance(result, FetchSummary)
        return result

    def _retry_pending(
        self,
        store: StoreLike,
        arcs: list[int] | None,
        directory: Path,
        progress: bool,
    ) -> FetchSummary:
        """Download again the unverified slices of earlier runs.

        A sync starts after the newest stored hour, so it would never come back to them
        otherwise.
        """
        total = FetchSummary()
        for entry in _Manifest(directory).pending():
            group = entry.get("arcs")
            if arcs is not None and group is not None and not set(group) & set(arcs):
                continue
            sl = Slice(
                None if group is None else tuple(group),
                pd.Timestamp(entry["start"]),
                pd.Timestamp(entry["end"]),
            )
            fields = [f.strip() for f in str(entry.get("select", "")).split(",") if f.strip()]
            summary = self._into_store(
                group,
                sl.start,
                sl.end,
                store=store,
                out_dir=directory,
                fields=fields or None,
                slice_freq="MS",
                export_format=entry.get("format", "csv"),
                progress=progress,
                slices=[sl],
            )
            total = total.merge(summary)
        return total


class _Counter:
    """The portal's counts of slices; after one refusal it is not asked again in the run."""

    def __init__(self, http: HttpCore) -> None:
        self.http = http
        self.able = True

    def __call__(self, where: str) -> int | None:
        expected = _count(self.http, where) if self.able else None
        self.able = expected is not None
        return expected


def _resumable(done: dict[str, Any] | None, path: Path, count: _Counter, sl: Slice) -> bool:
    """Whether a manifest entry proves the slice done (version 1 entries are counted again)."""
    if done is None or not done.get("final") or not (done.get("empty") or path.exists()):
        return False
    if done.get("empty") or done.get("check") in ("count", "hours"):
        return True
    if "verified" in done:
        return False
    return count(sl.where) == done.get("rows")


def _run_slices(
    http: HttpCore,
    count: _Counter,
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
    flavour = hashlib.sha1(f"{http.dataset}|{select}|{export_format}".encode()).hexdigest()[:6]
    logger.info("fetch: %d slice(s) of %s into %s", len(slices), export_format, directory)
    bar = tqdm(slices, desc="fetch", unit="slice", disable=not progress, leave=True)
    for sl in bar:
        bar.set_postfix_str(sl.label)
        key = f"{sl.key}_{flavour}"
        path = directory / f"{key}.{export_format}"
        done = manifest.done.get(key)
        if _resumable(done, path, count, sl):
            assert done is not None
            logger.debug("slice %s: done by an earlier run, skipped", sl.label)
            summary.resumed += 1
            if store is None and not done.get("empty"):
                parsed = parse_export(path, export_format, strict=True)
                panels.append(check_slice(parsed, sl, None, path).panel)
            if not done.get("empty"):
                summary.files.append(path)
            continue
        final = sl.end <= pd.Timestamp.now(tz="UTC")
        expected = count(sl.where)
        if expected == 0:
            logger.debug("slice %s: the portal counts no record, skipped", sl.label)
            summary.empty += 1
            manifest.record(key, {"empty": True, "final": final, "rows": 0, "check": "count"})
            continue
        parsed, problem = _download_slice(http, sl, path, select, export_format, expected)
        if len(parsed.quarantine):
            target = path.with_name(path.name + ".quarantine.csv")
            atomic_write(target, functools.partial(parsed.quarantine.to_csv, index=False))
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
        info: dict[str, Any] = {"file": path.name, "rows": parsed.rows, "final": final}
        logger.info(
            "slice %s: %d rows, %d quarantined, %d duplicates%s",
            sl.label,
            parsed.rows,
            len(parsed.quarantine),
            parsed.duplicates,
            "" if problem is None else f", NOT VERIFIED ({problem})",
        )
        if problem is None:
            info["check"] = "hours" if expected is None else "count"
        else:
            summary.unverified.append(f"{sl.label} ({problem})")
            info.update(
                verified=False,
                reason=problem,
                start=sl.start.isoformat(),
                end=sl.end.isoformat(),
                arcs=None if sl.arcs is None else list(sl.arcs),
                select=select,
                format=export_format,
            )
        manifest.record(key, info)
    summary.seconds = time.monotonic() - began
    logger.info("fetch: %s", summary)
    return summary, panels


def _download_slice(
    http: HttpCore,
    sl: Slice,
    path: Path,
    select: str,
    export_format: str,
    expected: int | None,
) -> tuple[ParsedSlice, str | None]:
    """Download, strictly parse and verify one slice; return it and why it is unverified.

    A slice that is well formed but cannot prove itself complete (no count, an arc that stops
    before the slice's last hour) is downloaded once more, in case the first body was cut.
    """
    attempts = 0

    def verify(part: Path) -> tuple[ParsedSlice, str | None]:
        nonlocal attempts
        attempts += 1
        parsed = check_slice(parse_export(part, export_format, strict=True), sl, expected, part)
        problem = None if expected is not None else tail_problem(parsed, sl)
        if problem is not None and attempts == 1 and http.retry.max_retries > 0:
            raise ValueError(f"{part.name}: {problem}; downloading it again in case it was cut")
        return parsed, problem

    result: tuple[ParsedSlice, str | None] = http.download(
        http.export_url(export_format),
        path,
        {"select": select, "where": sl.where, "order_by": "t_1h", "timezone": "UTC"},
        what=f"export {sl.label}",
        verify=verify,
    )
    return result
