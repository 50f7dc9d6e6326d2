"""Rebuild the bundled sample and network from the shared real files.

Usage::

    python -m infotrafic.datasets._make_sample SHARED_DATA_DIR

reads ``SHARED_DATA_DIR/exports/arc*_2022-11_2023-12.csv.gz`` with
:func:`infotrafic.etl.read_files` (so the sample is exactly what the ETL makes) and writes the
panel and the arcs table, zstd-compressed, into ``infotrafic/datasets/data/``; then reads the
arc referentiel ``SHARED_DATA_DIR/referentiel/referentiel-comptages-routiers_2020-12.csv.gz``
with :func:`infotrafic.etl.read_arcs` and writes the network (geometries rounded to six
decimals, compact GeoJSON). Source: Ville de Paris — comptages routiers permanents
(opendata.paris.fr), ODbL.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd

from infotrafic.datasets._network import NETWORK_FILE
from infotrafic.datasets._sample import SAMPLE_ARCS, SAMPLE_ARCS_FILE, SAMPLE_FILE

__all__ = ["compact_geometry", "make_network", "make_sample"]

_PATTERN = "arc*_2022-11_2023-12.csv.gz"
#: The referentiel snapshot the bundled network is read from (under ``SHARED_DATA_DIR``).
REFERENTIEL = "referentiel/referentiel-comptages-routiers_2020-12.csv.gz"
#: Decimals kept in the network's coordinates (1e-6 degree is about 0.1 m in Paris).
_DECIMALS = 6


def make_sample(shared_data: Path, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Read the export files of the sample arcs and write the two sample parquet files.

    Parameters
    ----------
    shared_data : pathlib.Path
        The folder of real files (with an ``exports/`` sub-folder).
    out_dir : pathlib.Path, optional
        Where to write; defaults to the package's ``datasets/data`` folder.

    Returns
    -------
    tuple of pathlib.Path
        The panel file and the arcs file.
    """
    from infotrafic.etl import read_files, write_parquet

    files = sorted((shared_data / "exports").glob(_PATTERN))
    if not files:
        raise SystemExit(f"no {_PATTERN} under {shared_data / 'exports'}")
    result = read_files(files)
    panel = result.panel[result.panel["arc_id"].isin(SAMPLE_ARCS)].reset_index(drop=True)
    missing = set(SAMPLE_ARCS) - set(panel["arc_id"].unique().tolist())
    if missing:
        raise SystemExit(f"sample arcs {sorted(missing)} not found in {files}")
    arcs = result.arcs[result.arcs["arc_id"].isin(SAMPLE_ARCS)]
    arcs = arcs.drop_duplicates("arc_id", keep="last").sort_values("arc_id")
    out = out_dir or Path(__file__).with_name("data")
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(panel, out / SAMPLE_FILE)
    write_parquet(pd.DataFrame(arcs).reset_index(drop=True), out / SAMPLE_ARCS_FILE)
    return out / SAMPLE_FILE, out / SAMPLE_ARCS_FILE


def compact_geometry(geometry: Any) -> Any:
    """Round a GeoJSON geometry's coordinates and write it as compact JSON text.

    Parameters
    ----------
    geometry : str or None
        A GeoJSON geometry as JSON text (the arcs table's ``geometry``); None or NaN is kept.

    Returns
    -------
    str or None
        ``{"type":...,"coordinates":...}`` without spaces, coordinates rounded to six decimals.

    Examples
    --------
    >>> compact_geometry('{"type": "LineString", "coordinates": [[2.30099514, 48.87177704]]}')
    '{"type":"LineString","coordinates":[[2.300995,48.871777]]}'
    """
    if not isinstance(geometry, str):
        return None
    shape = json.loads(geometry)

    def rounded(value: Any) -> Any:
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return round(float(value), _DECIMALS)

    compact = {"type": shape["type"], "coordinates": rounded(shape["coordinates"])}
    return json.dumps(compact, separators=(",", ":"))


def make_network(shared_data: Path, out_dir: Path | None = None) -> Path:
    """Read the arc referentiel and write the network arcs table (compact geometries).

    Parameters
    ----------
    shared_data : pathlib.Path
        The folder of real files (with the ``referentiel/`` sub-folder).
    out_dir : pathlib.Path, optional
        Where to write; defaults to the package's ``datasets/data`` folder.

    Returns
    -------
    pathlib.Path
        The network file.
    """
    from infotrafic.etl import read_arcs, write_parquet

    source = shared_data / REFERENTIEL
    if not source.is_file():
        raise SystemExit(f"no referentiel {source}")
    arcs = read_arcs(source).sort_values("arc_id").reset_index(drop=True)
    arcs["geometry"] = arcs["geometry"].map(compact_geometry).astype("object")
    out = out_dir or Path(__file__).with_name("data")
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(arcs, out / NETWORK_FILE)
    return out / NETWORK_FILE


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``python -m infotrafic.datasets._make_sample DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        click.echo(__doc__, err=True)
        return 2
    for path in (*make_sample(Path(args[0])), make_network(Path(args[0]))):
        click.echo(f"{path}  {path.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
