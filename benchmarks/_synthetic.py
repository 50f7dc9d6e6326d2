"""Data for the benchmarks: the real Paris files, and a SYNTHETIC panel built from them.

``load_real_panel`` reads the real archive + export files (``tests/data/paris``, see ``_data``) with
:func:`infotrafic.etl.read_files` (falling back to a minimal pandas reader when the ETL layer is
not importable, so that the peer side of the benchmarks can run on its own).

``synthetic_panel`` builds a **synthetic** canonical panel of any number of arcs from the
hour-of-week profiles of the real arcs (mean and standard deviation of flow; occupancy derived
from flow), scaled per arc, with autocorrelated noise and realistic missingness (isolated missing
hours, multi-day outages, arcs reporting only occupancy for a while). It is meant for scale and
speed measurements only: never quote an accuracy figure computed on it.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd
from _data import DEFAULT_DATA
from scipy.signal import lfilter

SYNTHETIC_LABEL = "SYNTHETIC panel (built from real arcs' profiles; not real data)"


def real_files(data_dir: Path = DEFAULT_DATA) -> list[Path]:
    """Archive + export files of the real data folder (the benchmark inputs)."""
    files = sorted(glob.glob(str(data_dir / "archive" / "*.csv.gz")))
    files += sorted(glob.glob(str(data_dir / "exports" / "*.csv.gz")))
    if not files:
        raise SystemExit(
            f"no real data under {data_dir}: restore tests/data/paris (bundled in the "
            "repository) or point INFOTRAFIC_SHARED_DATA at a folder with archive/ and exports/"
        )
    return [Path(f) for f in files]


def _fallback_read(files: list[Path]) -> pd.DataFrame:
    frames = []
    for f in files:
        if "/archive/" in str(f):
            df = pd.read_csv(f, usecols=["iu_ac", "t_1h", "q", "k"])
            local = pd.to_datetime(df["t_1h"])
            time = local.dt.tz_localize("Europe/Paris", ambiguous="NaT", nonexistent="NaT")
            df = pd.DataFrame(
                {
                    "arc_id": df["iu_ac"],
                    "time": time.dt.tz_convert("UTC"),
                    "flow": df["q"],
                    "occupancy": df["k"],
                }
            )
        else:
            df = pd.read_csv(f, sep=";", encoding="utf-8-sig")
            df = pd.DataFrame(
                {
                    "arc_id": df["Identifiant arc"],
                    "time": pd.to_datetime(df["Date et heure de comptage"], utc=True),
                    "flow": pd.to_numeric(df["Débit horaire"], errors="coerce"),
                    "occupancy": pd.to_numeric(df["Taux d'occupation"], errors="coerce"),
                }
            )
        frames.append(df.dropna(subset=["time"]))
    out = pd.concat(frames, ignore_index=True)
    # prefer rows with a flow when the same hour comes from several files
    out = out.sort_values(["arc_id", "time", "flow"], na_position="last")
    out = out.drop_duplicates(["arc_id", "time"], keep="first")
    out["arc_id"] = out["arc_id"].astype("int64")
    out["time"] = out["time"].astype("datetime64[ns, UTC]")
    out["traffic_state"] = pd.array([pd.NA] * len(out), dtype="Int8")
    out["closure_state"] = pd.array([pd.NA] * len(out), dtype="Int8")
    return out.sort_values(["arc_id", "time"]).reset_index(drop=True)


def load_real_panel(data_dir: Path = DEFAULT_DATA) -> tuple[pd.DataFrame, str]:
    """Read the real archive + export files; return ``(panel, reader_name)``."""
    files = real_files(data_dir)
    try:
        from infotrafic.etl import read_files
    except ImportError:
        return _fallback_read(
            files
        ), "benchmarks._synthetic fallback reader (infotrafic.etl absent)"
    return read_files(files).panel, "infotrafic.etl.read_files"


def _profiles(panel: pd.DataFrame, since: str = "2015-01-01") -> dict[str, np.ndarray]:
    """Hour-of-week (UTC) flow mean/std and an occupancy-per-flow ratio per real arc."""
    p = panel[(panel["time"] >= pd.Timestamp(since, tz="UTC")) & panel["flow"].notna()]
    how = (p["time"].dt.day_of_week * 24 + p["time"].dt.hour).to_numpy()
    means, stds, ratios = [], [], []
    for arc in sorted(p["arc_id"].unique()):
        m = (p["arc_id"] == arc).to_numpy()
        g = pd.DataFrame({"how": how[m], "flow": p["flow"].to_numpy()[m]})
        stats = g.groupby("how")["flow"].agg(["mean", "std"]).reindex(range(168))
        stats = stats.interpolate(limit_direction="both")
        means.append(stats["mean"].to_numpy())
        stds.append(stats["std"].fillna(stats["mean"] * 0.2).to_numpy())
        occ = p["occupancy"].to_numpy()[m]
        flow = p["flow"].to_numpy()[m]
        ok = np.isfinite(occ) & (flow > 0)
        ratios.append(float(np.median(occ[ok] / flow[ok])) if ok.any() else 0.01)
    return {"mean": np.array(means), "std": np.array(stds), "ratio": np.array(ratios)}


def synthetic_panel(
    n_arcs: int,
    *,
    start: str = "2022-08-01",
    end: str = "2023-11-01",
    real_panel: pd.DataFrame | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Build a SYNTHETIC canonical panel of ``n_arcs`` arcs over ``[start, end)`` (hourly, UTC).

    Each synthetic arc mixes two real arcs' hour-of-week profiles with random weights, is scaled
    by a log-normal factor, gets AR(1) noise proportional to the profile's standard deviation,
    a few % of isolated missing hours, multi-day outages on some arcs, and occupancy derived from
    flow (with a congestion bend and noise).
    """
    rng = np.random.default_rng(seed)
    real = real_panel if real_panel is not None else load_real_panel()[0]
    prof = _profiles(real)
    n_real = prof["mean"].shape[0]
    times = pd.date_range(
        pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"), freq="h", inclusive="left"
    )
    n_t = len(times)
    how = (times.day_of_week * 24 + times.hour).to_numpy()
    flow = np.empty((n_arcs, n_t), dtype="float64")
    occ = np.empty((n_arcs, n_t), dtype="float64")
    phi = 0.8
    for i in range(n_arcs):
        a, b = rng.integers(0, n_real, size=2)
        w = rng.uniform(0.0, 1.0)
        mean = w * prof["mean"][a] + (1 - w) * prof["mean"][b]
        std = w * prof["std"][a] + (1 - w) * prof["std"][b]
        scale = float(np.exp(rng.normal(0.0, 0.5)))
        shocks = rng.standard_normal(n_t) * np.sqrt(1 - phi**2)
        noise = lfilter([1.0], [1.0, -phi], shocks)  # AR(1)
        f = np.clip(scale * (mean[how] + 0.5 * std[how] * noise), 0.0, None)
        flow[i] = np.round(f)
        ratio = prof["ratio"][(a if w >= 0.5 else b)] / scale * rng.uniform(0.7, 1.3)
        base = ratio * f
        occ[i] = np.clip(base * (1 + 0.5 * (base / 30.0) ** 2) + rng.normal(0, 0.5, n_t), 0, 100)
    # missingness: isolated hours (~3 %), outages of 1-10 days on 30 % of arcs,
    # occupancy-only periods (flow missing for weeks) on 5 % of arcs
    missing = rng.random((n_arcs, n_t)) < 0.03
    for i in np.flatnonzero(rng.random(n_arcs) < 0.3):
        for _ in range(int(rng.integers(1, 4))):
            s = int(rng.integers(0, n_t))
            missing[i, s : s + int(rng.integers(24, 240))] = True
    flow[missing] = np.nan
    occ[missing] = np.nan
    for i in np.flatnonzero(rng.random(n_arcs) < 0.05):
        s = int(rng.integers(0, n_t))
        flow[i, s : s + int(rng.integers(24 * 7, 24 * 42))] = np.nan
    arc_ids = np.arange(100_000, 100_000 + n_arcs, dtype="int64")
    panel = pd.DataFrame(
        {
            "arc_id": np.repeat(arc_ids, n_t),
            "time": np.tile(times.to_numpy(), n_arcs),
            "flow": flow.ravel(),
            "occupancy": occ.ravel(),
        }
    )
    panel["time"] = (
        panel["time"].dt.tz_localize("UTC") if panel["time"].dt.tz is None else panel["time"]
    )
    # rows absent altogether (as in the portal, where a missing hour may simply not be published)
    keep = ~(np.isnan(panel["flow"].to_numpy()) & np.isnan(panel["occupancy"].to_numpy()))
    keep |= rng.random(len(panel)) < 0.5
    panel = panel[keep].reset_index(drop=True)
    panel["traffic_state"] = pd.array(np.ones(len(panel), dtype="int8"), dtype="Int8")
    panel["closure_state"] = pd.array(np.full(len(panel), 3, dtype="int8"), dtype="Int8")
    return panel
