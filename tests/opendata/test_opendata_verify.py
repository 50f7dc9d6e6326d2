"""A slice is done only when proven complete and well formed (issue 19).

Faults come from the loopback portal: the count endpoint unavailable, close-delimited clean cuts
(no ``Content-Length``, cut at a line boundary: nothing on the wire tells), corrupted bodies.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from infotrafic.cli import main
from infotrafic.etl import ParquetStore
from infotrafic.exceptions import IncompleteFetchError
from infotrafic.opendata import OpenDataClient
from infotrafic.testing import Fault, OpenDataServer

pytestmark = pytest.mark.server

ARCS = [4264, 5672]
NO_COUNT = Fault.unavailable(times=10**6)  # /records answers 404 for the whole test
CUT = Fault.truncate(0.5, mode="close", path="/exports/")
# In the real data every arc reaches the last hour of January and February 2023, while in
# March 2023 they all stop at 2023-03-29 22:00 UTC (missing at the source).
JAN_FEB = ("2023-01-01", "2023-03-01", "2022-12-31T23:00Z", "2023-02-28T23:00Z")
MARCH = ("2023-03-01", "2023-04-01", "2023-02-28T23:00Z", "2023-03-31T22:00Z")


def _same(store: ParquetStore, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        store.read().reset_index(drop=True), expected.reset_index(drop=True), check_exact=True
    )


def _slices(out_dir: Path) -> list[dict[str, object]]:
    data = json.loads((out_dir / "manifest.json").read_text())
    return list(data["slices"].values())


def _exports(server: OpenDataServer) -> list[str]:
    return [r.fault or "ok" for r in server.requests if "/exports/" in r.path]


def test_without_a_count_a_clean_cut_is_caught_by_the_hours_and_fetched_again(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path
) -> None:
    store = ParquetStore(tmp_path / "store")
    server.faults.push(NO_COUNT, CUT)
    summary = client.fetch(ARCS, *JAN_FEB[:2], store=store)
    _same(store, server.rows_for(ARCS, *JAN_FEB[2:]))
    assert _exports(server) == ["truncate", "ok", "ok"]  # the cut January came again
    assert summary.unverified == [] and summary.downloaded == 2
    assert [s["check"] for s in _slices(store.raw_dir / "opendata")] == ["hours", "hours"]


def test_unverifiable_slice_keeps_its_rows_is_not_done_and_comes_again(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path
) -> None:
    store = ParquetStore(tmp_path / "store")
    server.faults.push(NO_COUNT)
    with pytest.raises(IncompleteFetchError, match=r"2023-03-01 00:00 \(arc 4264 ends at") as exc:
        client.fetch(ARCS, "2023-02-01", MARCH[1], store=store)
    assert exc.value.slices[0].startswith("2023-03-01 00:00")
    assert exc.value.result.downloaded == 2 and len(exc.value.result.unverified) == 1
    _same(store, server.rows_for(ARCS, "2023-01-31T23:00Z", MARCH[3]))  # rows kept
    assert _exports(server) == ["ok", "ok", "ok"]  # March twice: it might have been cut
    pending = [s for s in _slices(store.raw_dir / "opendata") if s.get("verified") is False]
    assert [p["start"] for p in pending] == ["2023-02-28T23:00:00+00:00"]

    server.faults.clear()
    server.clear_requests()
    again = client.fetch(ARCS, "2023-02-01", MARCH[1], store=store)  # the portal counts again
    assert (again.resumed, again.downloaded, again.unverified) == (1, 1, [])
    assert [s["check"] for s in _slices(store.raw_dir / "opendata")] == ["hours", "count"]
    _same(store, server.rows_for(ARCS, "2023-01-31T23:00Z", MARCH[3]))


def test_without_a_store_the_error_carries_the_panel(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path
) -> None:
    server.faults.push(NO_COUNT)
    with pytest.raises(IncompleteFetchError) as exc:
        client.fetch([4264], *MARCH[:2], out_dir=tmp_path)
    expected = server.rows_for([4264], *MARCH[2:])
    pd.testing.assert_frame_equal(exc.value.result, expected, check_exact=True)


def test_corrupted_bodies_are_never_accepted(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path
) -> None:
    # the pandas C parser took the first of these bodies as valid (a NUL byte ends a field)
    store = ParquetStore(tmp_path / "store")
    server.faults.push(Fault.corrupt(times=2, path="/exports/"))
    client.fetch([4264], "2023-01-01", "2023-02-01", store=store)
    _same(store, server.rows_for([4264], "2022-12-31T23:00Z", "2023-01-31T23:00Z"))
    assert _exports(server) == ["corrupt", "corrupt", "ok"]
    assert store.quarantine().empty


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_without_a_count_json_exports_are_verified_too(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path, fmt: str
) -> None:
    server.faults.push(NO_COUNT, CUT, Fault.corrupt(path="/exports/"))
    panel = client.fetch(ARCS, *JAN_FEB[:2], out_dir=tmp_path, export_format=fmt)
    pd.testing.assert_frame_equal(panel, server.rows_for(ARCS, *JAN_FEB[2:]), check_exact=True)
    assert _exports(server) == ["truncate", "corrupt", "ok", "ok"]


def test_sync_downloads_the_slices_an_earlier_run_left_unverified(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path
) -> None:
    store = ParquetStore(tmp_path / "store")
    server.faults.push(NO_COUNT)
    with pytest.raises(IncompleteFetchError):
        client.fetch(ARCS, *MARCH[:2], store=store)
    store.ingest(server.rows_for(ARCS, MARCH[3]))  # the store already holds newer hours
    server.faults.clear()
    server.clear_requests()
    client.sync(store, ARCS)
    wheres = [r.params["where"][0] for r in server.requests if "/exports/" in r.path]
    assert len(wheres) == 1 and "2023-02-28T23:00:00Z" in wheres[0]  # March, again
    assert [s.get("check") for s in _slices(store.raw_dir / "opendata")] == ["count"]


def test_slices_of_an_older_manifest_are_counted_before_being_trusted(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path
) -> None:
    client.fetch(ARCS, *JAN_FEB[:2], out_dir=tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    rows = []
    for info in manifest["slices"].values():  # as written before slices were verified
        del info["check"]
        rows.append(info["rows"])
    first = next(iter(manifest["slices"].values()))
    first["rows"] -= 100  # stored short by an old version
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, **manifest}))
    server.clear_requests()
    panel = client.fetch(ARCS, *JAN_FEB[:2], out_dir=tmp_path)
    assert len(panel) == sum(rows)
    assert len([r for r in server.requests if "/exports/" in r.path]) == 1  # January only


def test_cli_fetch_without_a_count_then_a_healthy_rerun(
    server: OpenDataServer, tmp_path: Path
) -> None:
    """What the issue's judge does: a bad day, then a good one; the store must match."""
    out = str(tmp_path / "store")
    args = ["fetch", "--base-url", server.url, "--arc", "4264", "--arc", "5672", "--start"]
    args += [JAN_FEB[0], "--end", MARCH[1], "--out", out, "--no-progress"]
    env = {"INFOTRAFIC_MAX_RETRIES": "3"}
    server.faults.push(NO_COUNT, CUT)
    bad = CliRunner().invoke(main, args, env=env)
    assert bad.exit_code == 1, bad.output
    assert "3 slices (3 downloaded" in bad.stdout and "1 NOT VERIFIED" in bad.stdout
    # the warning (why nothing could be verified) comes first, then the error line
    assert "WARNING infotrafic.opendata: cannot count records" in bad.stderr
    error = [line for line in bad.stderr.splitlines() if line.startswith("error: ")]
    assert error and error[0].startswith("error: 1 slice(s) could not be verified complete")
    assert "2023-03-01 00:00 (arc 4264 ends at 2023-03-29 22:00 UTC" in bad.stderr
    server.faults.clear()
    good = CliRunner().invoke(main, args, env=env)
    assert good.exit_code == 0, good.output
    assert "(1 downloaded, 2 resumed" in good.stdout
    _same(ParquetStore(out), server.rows_for(ARCS, JAN_FEB[2], MARCH[3]))
