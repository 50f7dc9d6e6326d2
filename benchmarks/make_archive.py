"""Write a SYNTHETIC yearly archive ZIP in the layout of the portal's historical archive.

Usage::

    python benchmarks/make_archive.py --arcs 3000 --year 2023 --out /tmp/archives

The values come from :func:`_synthetic.synthetic_panel` (the benchmarks' one generator: real
arcs' hour-of-week profiles, noise, outages, rows absent altogether), generated in blocks of arcs
so that memory stays modest. The file imitates the archive's *layout*, not its values:

* one text member per week (``SYNTHETIC_<year>_wNN.txt``), ``;``-separated by default (``--sep``),
  raw column names ``iu_ac;libelle;iu_nd_amont;libelle_nd_amont;iu_nd_aval;libelle_nd_aval;
  t_1h;q;k;etat_trafic;etat_barre``, integer state codes;
* ``t_1h`` the end of the hour as a naive Europe/Paris wall clock: on the spring-forward day every
  arc has an empty ``02:00`` row (the archive's placeholder), on the fall-back day the ``02:00``
  appears twice (summer time, then standard time);
* the last week is written a second time as an extra member (the archive repeats whole blocks).

Everything is labelled synthetic: the file name starts with ``SYNTHETIC_``, the ZIP comment says
so, and so do the member names and the arc labels. Never quote an accuracy figure computed on it.
About 3,000 arcs give the real archive's ~27 million rows (a ~10 % share of empty hours
published, as in the portal, comes from the generator).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from _synthetic import SYNTHETIC_LABEL, load_real_panel, synthetic_panel

COLUMNS = (
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
FIRST_ARC = 100_000  # the synthetic arcs' ids (synthetic_panel numbers its arcs from here)
_BLOCK = 250  # arcs generated at once


def archive_name(year: int, n_arcs: int) -> str:
    """File name of the synthetic archive (labelled synthetic)."""
    return f"SYNTHETIC_opendata_txt_{year}_{n_arcs}arcs.zip"


def _wall_clock(utc: pd.DatetimeIndex) -> np.ndarray:
    """End-of-hour UTC instants -> the archive's naive Paris wall-clock strings."""
    local = utc.tz_convert("Europe/Paris").tz_localize(None)
    return np.asarray(local.strftime("%Y-%m-%d %H:%M:%S"), dtype=object)


def _compact(n_arcs: int, year: int, seed: int) -> dict[str, np.ndarray]:
    """Generate the year block by block; keep compact columns (arc, hour index, q, k)."""
    real = load_real_panel()[0]
    # the archive's year is a local year: cover it in UTC
    start = pd.Timestamp(f"{year}-01-01 00:00", tz="Europe/Paris").tz_convert("UTC")
    end = pd.Timestamp(f"{year + 1}-01-01 00:00", tz="Europe/Paris").tz_convert("UTC")
    parts: dict[str, list[np.ndarray]] = {"arc": [], "hour": [], "q": [], "k": []}
    t0 = start.value // 3_600_000_000_000
    for first in range(0, n_arcs, _BLOCK):
        size = min(_BLOCK, n_arcs - first)
        block = synthetic_panel(
            size,
            start=str(start.tz_localize(None) + pd.Timedelta(hours=1)),
            end=str(end.tz_localize(None) + pd.Timedelta(hours=1)),
            real_panel=real,
            seed=seed * 100_003 + first,
        )
        parts["arc"].append(block["arc_id"].to_numpy(dtype="int32") + np.int32(first))
        hours = block["time"].to_numpy(dtype="datetime64[ns]").view("int64") // 3_600_000_000_000
        parts["hour"].append((hours - t0).astype("int32"))
        parts["q"].append(block["flow"].to_numpy(dtype="float32"))
        parts["k"].append(np.round(block["occupancy"].to_numpy(dtype="float64"), 5))
        del block
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["t0"] = np.array([t0], dtype="int64")
    return out


def _week_table(
    arc: np.ndarray, times: np.ndarray, q: np.ndarray, k: np.ndarray, rng: np.random.Generator
) -> pa.Table:
    n = len(arc)
    labels = np.char.add("SYNTH_arc_", arc.astype(str)).astype(object)
    up = (arc * 2).astype("int64")
    etat = np.where(np.isnan(q), 0, rng.integers(1, 4, n)).astype("int64")
    barre = rng.choice([1, 2, 3], size=n, p=[0.2, 0.2, 0.6]).astype("int64")
    return pa.table(
        {
            "iu_ac": pa.array(arc.astype("int64")),
            "libelle": pa.array(labels, pa.string()),
            "iu_nd_amont": pa.array(up),
            "libelle_nd_amont": pa.array(np.char.add(labels.astype(str), "-up").astype(object)),
            "iu_nd_aval": pa.array(up + 1),
            "libelle_nd_aval": pa.array(np.char.add(labels.astype(str), "-down").astype(object)),
            "t_1h": pa.array(times, pa.string()),
            "q": pa.array(q, pa.float64(), from_pandas=True),
            "k": pa.array(k, pa.float64(), from_pandas=True),
            "etat_trafic": pa.array(etat),
            "etat_barre": pa.array(barre),
        }
    )


def _csv_bytes(table: pa.Table, sep: str) -> bytes:
    sink = io.BytesIO()
    options = pacsv.WriteOptions(delimiter=sep, quoting_style="none")
    pacsv.write_csv(table, sink, options)
    text = sink.getvalue()
    # pyarrow quotes the header names; the archive does not
    head, _, body = text.partition(b"\n")
    return head.replace(b'"', b"") + b"\n" + body


def make_archive(
    out_dir: Path, *, n_arcs: int, year: int, sep: str = ";", seed: int = 0, level: int = 1
) -> Path:
    """Write the synthetic archive of ``n_arcs`` arcs for ``year``; return its path.

    Parameters
    ----------
    out_dir : Path
        Folder of the ZIP (created).
    n_arcs : int
        Number of synthetic arcs.
    year : int
        The (local) year covered.
    sep : str, default ";"
        Field separator of the members.
    seed : int, default 0
        Random seed.
    level : int, default 1
        Deflate level of the members.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    data = _compact(n_arcs, year, seed)
    rng = np.random.default_rng(seed)
    t0 = int(data["t0"][0])
    end_hours = pd.DatetimeIndex(
        (np.arange(int(data["hour"].max()) + 1) + t0) * 3_600_000_000_000, tz="UTC"
    )
    walls = _wall_clock(end_hours)
    week_of_hour = (
        (end_hours - pd.Timedelta(hours=1)).tz_convert("Europe/Paris").dayofyear - 1
    ) // 7
    week = np.asarray(week_of_hour)[data["hour"]]
    order = np.lexsort((data["hour"], data["arc"], week))
    path = out_dir / archive_name(year, n_arcs)
    spring = pd.Timestamp(f"{year}-03-31") - pd.Timedelta(
        days=(pd.Timestamp(f"{year}-03-31").dayofweek + 1) % 7
    )
    spring_wall = f"{spring:%Y-%m-%d} 02:00:00"
    spring_week = (spring.dayofyear - 1) // 7
    arcs_all = np.arange(FIRST_ARC, FIRST_ARC + n_arcs, dtype="int64")
    bounds = np.searchsorted(week[order], np.arange(int(week.max()) + 2))
    last_payload = b""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        zf.comment = f"{SYNTHETIC_LABEL}; {n_arcs} arcs, year {year}, seed {seed}".encode()
        for w in range(int(week.max()) + 1):
            rows = order[bounds[w] : bounds[w + 1]]
            arc = data["arc"][rows].astype("int64")
            times = walls[data["hour"][rows]]
            q = data["q"][rows].astype("float64")
            k = data["k"][rows]
            if w == spring_week:  # the archive's empty placeholder at the missing hour
                arc = np.concatenate([arc, arcs_all])
                times = np.concatenate([times, np.full(n_arcs, spring_wall, dtype=object)])
                q = np.concatenate([q, np.full(n_arcs, np.nan)])
                k = np.concatenate([k, np.full(n_arcs, np.nan)])
            payload = _csv_bytes(_week_table(arc, times, q, k, rng), sep)
            zf.writestr(f"SYNTHETIC_{year}_w{w + 1:02d}.txt", payload)
            last_payload = payload
        zf.writestr(f"SYNTHETIC_{year}_w{int(week.max()) + 1:02d}_repeated.txt", last_payload)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arcs", type=int, default=3000, help="number of synthetic arcs")
    parser.add_argument("--year", type=int, default=2023, help="year covered (local time)")
    parser.add_argument("--sep", default=";", help="field separator of the members")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "infotrafic-bench", help="folder"
    )
    args = parser.parse_args()
    path = make_archive(args.out, n_arcs=args.arcs, year=args.year, sep=args.sep, seed=args.seed)
    with zipfile.ZipFile(path) as zf:
        members = zf.infolist()
        raw = sum(m.file_size for m in members)
    print(
        f"{path}: {len(members)} members, {path.stat().st_size / 1e6:.1f} MB zipped, "
        f"{raw / 1e6:.1f} MB of text ({SYNTHETIC_LABEL})"
    )


if __name__ == "__main__":
    main()
