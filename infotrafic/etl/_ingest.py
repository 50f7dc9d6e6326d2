"""Read-and-ingest orchestration: :meth:`ParquetStore.ingest_files` and ``ingest_arcs``.

The store (:mod:`infotrafic.etl._store`) is persistence only: partitions, manifest, arcs table,
quarantine, all written inside its transaction. What reads files and feeds them to it lives here;
the store's public methods delegate to :func:`ingest_files` and :func:`ingest_arcs`. This module
does not import the store: it asks for what it needs through the :class:`StoreWriter` protocol.

The ingest loop: hash, stage, merge in batches.

Reading a file (:func:`~infotrafic.etl._stream.stage_file`) is a pure function of its bytes, so
it can run anywhere: here, one file after the other, or on the workers of a Dask cluster, each
writing its month panels under the transaction's work folder. The merge into the store always
runs here, in the order the files were given and with the same batches, so a parallel run writes
exactly the bytes a serial run writes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from infotrafic._io import file_sha256
from infotrafic._schema import PANEL_COLUMNS, PANEL_DTYPES, empty_panel, validate_panel
from infotrafic._types import PathLike
from infotrafic.etl._dedupe import dedupe_by_arc
from infotrafic.etl._read import read_arcs
from infotrafic.etl._result import log_read
from infotrafic.etl._store_util import IngestSummary, expand_paths, month_of
from infotrafic.etl._stream import BUDGET_ROWS, StagedFile, stage_file
from infotrafic.etl._txn import Transaction
from infotrafic.exceptions import FileFormatError, IngestError

__all__ = [
    "ResultLike",
    "StoreWriter",
    "ingest_arcs",
    "ingest_files",
    "ingest_result",
    "merge_staged",
    "run_ingest",
    "stage_task",
]


class ResultLike(Protocol):
    """What :meth:`ParquetStore.ingest` needs from a :class:`~infotrafic.etl.ReadResult`."""

    @property
    def panel(self) -> pd.DataFrame: ...  # pragma: no cover

    @property
    def arcs(self) -> pd.DataFrame: ...  # pragma: no cover

    @property
    def quarantine(self) -> pd.DataFrame: ...  # pragma: no cover


class StoreWriter(Protocol):
    """What the orchestration asks of a store (:class:`~infotrafic.etl.ParquetStore`)."""

    def manifest(self) -> dict[str, Any]: ...  # pragma: no cover

    def arcs(self) -> pd.DataFrame: ...  # pragma: no cover

    def _writing(self) -> contextlib.AbstractContextManager[Transaction]: ...  # pragma: no cover

    def _write_manifest(self, manifest: dict[str, Any]) -> None: ...  # pragma: no cover

    def _merge_partition(
        self, month: int, rows: pd.DataFrame, by_arc: dict[int, list[int]]
    ) -> IngestSummary: ...  # pragma: no cover

    def _merge_arcs(self, arcs: pd.DataFrame) -> None: ...  # pragma: no cover

    def _store_quarantine(self, quarantine: pd.DataFrame) -> int: ...  # pragma: no cover

    def _keep_raw(self, path: Path, digest: str) -> str: ...  # pragma: no cover


def ingest_result(store: StoreWriter, result_or_panel: ResultLike | pd.DataFrame) -> IngestSummary:
    """Merge a read result or a panel into ``store`` (:meth:`~infotrafic.etl.ParquetStore.ingest`).

    The rows go to their UTC-month partitions with the one dedupe policy, then the arcs table and
    the quarantine; a frame is validated as a panel (duplicates allowed) first.
    """
    by_arc: dict[int, list[int]] = {}
    with store._writing():  # the lock first, as every writer (it creates the store folder)
        if isinstance(result_or_panel, pd.DataFrame):
            panel, arcs, quarantine = result_or_panel, None, None
        else:
            panel = result_or_panel.panel
            arcs, quarantine = result_or_panel.arcs, result_or_panel.quarantine
        if not len(panel):
            panel = empty_panel()
        elif isinstance(result_or_panel, pd.DataFrame) or not _has_panel_dtypes(panel):
            panel = validate_panel(panel, name="ingested panel", allow_duplicates=True)
            panel = panel[list(PANEL_COLUMNS)]
        else:  # a ReadResult's panel was validated by the reader
            panel = panel[list(PANEL_COLUMNS)]
        panel, dup_in, conf_in = dedupe_by_arc(panel, by_arc)
        summary = IngestSummary(duplicates=dup_in, conflicts=conf_in)
        if not panel.empty:
            months = month_of(panel["time"])
            for month in np.unique(months.to_numpy()):
                rows = panel[(months == month).to_numpy()]
                summary = summary + store._merge_partition(int(month), rows, by_arc)
        if arcs is not None and len(arcs):
            store._merge_arcs(arcs)
        if quarantine is not None and len(quarantine):
            summary = summary + IngestSummary(quarantined=store._store_quarantine(quarantine))
    return summary


def _has_panel_dtypes(panel: pd.DataFrame) -> bool:
    return all(c in panel.columns and str(panel[c].dtype) == PANEL_DTYPES[c] for c in PANEL_COLUMNS)


def ingest_files(
    store: StoreWriter,
    paths: Iterable[PathLike],
    *,
    progress: bool = False,
    batch_rows: int = 2_000_000,
    keep_raw: bool = True,
    scheduler: Any = None,
) -> IngestSummary:
    """Read files and ingest them into ``store``, all or nothing (see ``ingest_files``).

    The implementation of :meth:`~infotrafic.etl.ParquetStore.ingest_files`, whose docstring
    describes the parameters, result and errors.
    """
    files = expand_paths(paths, empty_ok=False)
    with store._writing() as txn:
        total, errors = run_ingest(
            store,
            txn,
            files,
            progress=progress,
            batch_rows=batch_rows,
            keep_raw=keep_raw,
            scheduler=scheduler,
        )
    if errors:
        total = total + IngestSummary(files_failed=len(errors))
        loaded = "none was ingested" if not total.files_ingested else "the others were"
        raise IngestError(
            f"{len(errors)} of {len(files)} file(s) loaded nothing ({loaded}): {errors[0]}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            errors=errors,
            result=total,
        )
    return total


def ingest_arcs(store: StoreWriter, arcs: pd.DataFrame | PathLike) -> int:
    """Merge an arcs table, or a referentiel file read first, into ``store``'s arcs table.

    The implementation of :meth:`~infotrafic.etl.ParquetStore.ingest_arcs`.
    """
    if not isinstance(arcs, pd.DataFrame):
        arcs = read_arcs(arcs)
    with store._writing():
        if len(arcs):
            store._merge_arcs(arcs)
    return len(store.arcs())


_Planned = tuple[int, Path, str]


def stage_task(path: str, work: str, budget_rows: int, lazy: bool) -> StagedFile | str:
    """Stage one file; return the staged file, or one line naming the file and its problem.

    The task a Dask worker runs (eagerly: the months are finished there, and come back as
    files). Errors come back as text: nothing to unpickle.
    """
    try:
        return stage_file(
            path, source_name=path, work=Path(work), budget_rows=budget_rows, lazy=lazy
        )
    except FileFormatError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: cannot read the file ({exc.strerror or exc})"


def _stage_serial(txn: Transaction, plan: Sequence[_Planned]) -> Iterator[StagedFile | str]:
    for index, path, _ in plan:
        yield stage_task(str(path), str(txn.work_dir(f"{index:06d}")), BUDGET_ROWS, True)


def _stage_dask(
    txn: Transaction, plan: Sequence[_Planned], scheduler: Any, progress: bool
) -> Iterator[StagedFile | str]:
    """Stage the files on a Dask cluster; yield the results in the plan's order."""
    from infotrafic._dask import dask_client, run_on_dask

    def task(position: int, path: str, work: str) -> tuple[int, StagedFile | str]:
        return position, stage_task(path, work, 0, False)

    calls: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
        (task, (pos, str(path), str(txn.work_dir(f"{index:06d}"))), {})
        for pos, (index, path, _) in enumerate(plan)
    ]
    with dask_client(scheduler) as client:
        ready: dict[int, StagedFile | str] = {}
        wanted = 0
        for position, result in run_on_dask(
            client, calls, total=len(calls), progress=progress, desc="read"
        ):
            ready[position] = result
            while wanted in ready:
                yield ready.pop(wanted)
                wanted += 1


def run_ingest(
    store: StoreWriter,
    txn: Transaction,
    files: Sequence[Path],
    *,
    progress: bool,
    batch_rows: int,
    keep_raw: bool,
    scheduler: Any = None,
) -> tuple[IngestSummary, list[str]]:
    """Ingest ``files`` inside ``txn``; return the summary and one line per failed file."""
    from tqdm.auto import tqdm

    manifest = store.manifest()
    known = set(manifest["files"])
    total = IngestSummary()
    errors: list[tuple[int, str]] = []
    plan: list[_Planned] = []
    for index, path in enumerate(files):
        try:
            digest = file_sha256(path)
        except OSError as exc:
            errors.append((index, f"{path}: cannot read the file ({exc.strerror or exc})"))
            continue
        if digest in known:
            total = total + IngestSummary(files_skipped=1)
            continue
        known.add(digest)
        plan.append((index, path, digest))
    if scheduler is None:
        staged_files = _stage_serial(txn, plan)
    else:
        staged_files = _stage_dask(txn, plan, scheduler, progress)
    bar = tqdm(total=len(plan), desc="ingest", unit="file", disable=not progress)
    pending: list[tuple[Path, str, StagedFile]] = []
    pending_rows = 0
    for (index, path, digest), staged in zip(plan, staged_files, strict=True):
        bar.update(1)
        if isinstance(staged, str):
            errors.append((index, staged))
            continue
        if not staged.rows_staged:
            errors.append((index, _nothing_loaded(path, staged)))
            staged.discard()
            continue
        pending.append((path, digest, staged))
        pending_rows += staged.rows_staged
        if pending_rows >= batch_rows:
            total = total + merge_staged(store, pending, manifest, keep_raw)
            pending, pending_rows = [], 0
    bar.close()
    if pending:
        total = total + merge_staged(store, pending, manifest, keep_raw)
    if total.files_ingested:
        store._write_manifest(manifest)
    return total, [text for _, text in sorted(errors)]


def merge_staged(
    store: StoreWriter,
    batch: Sequence[tuple[Path, str, StagedFile]],
    manifest: dict[str, Any],
    keep_raw: bool,
) -> IngestSummary:
    """Merge staged files into the store (inside its transaction), month by month."""
    by_arc: dict[int, list[int]] = {}
    summary = IngestSummary()
    months = sorted({m for _, _, staged in batch for m in staged.months})
    for month in months:
        frames = [s.month(month) for _, _, s in batch if month in s.months]
        panel = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        del frames
        panel, dups, conflicts = dedupe_by_arc(panel[list(PANEL_COLUMNS)], by_arc)
        summary = summary + IngestSummary(duplicates=dups, conflicts=conflicts)
        summary = summary + store._merge_partition(month, panel, by_arc)
        del panel
    arcs = [s.arcs for _, _, s in batch if len(s.arcs)]
    if arcs:
        store._merge_arcs(pd.concat(arcs, ignore_index=True))
    rejects = [s.quarantine for _, _, s in batch if len(s.quarantine)]
    if rejects:
        stored = store._store_quarantine(pd.concat(rejects, ignore_index=True))
        summary = summary + IngestSummary(quarantined=stored)
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    for path, digest, staged in batch:
        raw = store._keep_raw(path, digest) if keep_raw else None
        manifest["files"][digest] = {
            "name": path.name,
            "source": str(path),
            "size": path.stat().st_size,
            "raw": raw,
            "ingested_at": now,
            "rows": staged.rows,
            "arcs": staged.arc_ids,
            "quarantined": len(staged.quarantine),
            "report": _report_counts(staged),
        }
        log_read(staged.name, staged.kind or "file", staged.rows, len(staged.quarantine))
        staged.discard()
    _record_merge(manifest, summary, by_arc)
    read = IngestSummary(
        files_ingested=len(batch),
        duplicates=sum(_report_int(s, "duplicates") for _, _, s in batch),
        conflicts=sum(_report_int(s, "conflicts") for _, _, s in batch),
    )
    return summary + read


def _nothing_loaded(path: Path, result: Any) -> str:
    """One line naming a file that loaded no row, with the reasons its rows were rejected."""
    report = result.report
    if not report.rows_read:
        return f"{path}: no data row (only a header, or empty); nothing to load"
    reasons = ", ".join(f"{r}: {n}" for r, n in sorted(report.quarantined.items()))
    first = ""
    if len(result.quarantine):
        row = result.quarantine.iloc[0]
        value = f" = {str(row['raw'])[:60]!r}" if str(row["raw"] or "") else ""
        first = f"; first rejected: line {row['line']}, {row['field']}{value} ({row['reason']})"
    return (
        f"{path}: no row could be loaded ({report.rows_read} read, {report.n_quarantined} "
        f"rejected{' - ' + reasons if reasons else ''}{first}); fix the file or leave it out, "
        "it is not recorded as ingested"
    )


def _record_merge(
    manifest: dict[str, Any], summary: IngestSummary, by_arc: dict[int, list[int]]
) -> None:
    """Add the duplicates resolved by the store's merges to the manifest (total and per arc)."""
    merge = manifest.setdefault("merge", {"duplicates": 0, "conflicts": 0, "by_arc": {}})
    merge["duplicates"] += summary.duplicates
    merge["conflicts"] += summary.conflicts
    per_arc = merge.setdefault("by_arc", {})
    for arc, (dups, conflicts) in by_arc.items():
        entry = per_arc.setdefault(str(arc), [0, 0])
        entry[0] += dups
        entry[1] += conflicts


def _report_int(result: Any, name: str) -> int:
    return int(getattr(getattr(result, "report", None), name, 0) or 0)


def _report_counts(result: Any) -> dict[str, Any]:
    """JSON-safe counts of the reader's report of one file, for the manifest."""
    report: Any = getattr(result, "report", None)
    files: Any = getattr(report, "files", ())
    if len(files) == 1 and hasattr(files[0], "to_dict"):
        data: Any = files[0].to_dict()
    elif hasattr(report, "to_json"):
        data = json.loads(report.to_json())
    else:
        return {}
    return dict(json.loads(json.dumps(data, default=str)))
