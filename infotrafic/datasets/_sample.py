"""Loaders of the bundled real sample.

The sample is real data from Ville de Paris — comptages routiers permanents
(opendata.paris.fr), ODbL: the portal's CSV exports of arcs 4264 (Av. des Champs-Élysées),
5672 (Rue de la Convention) and 191 (Rue des Saints-Pères) from 2022-11-01 to 2023-12-02, read
by :func:`infotrafic.etl.read_files` exactly as the ETL reads them. The files are rebuilt by
``python -m infotrafic.datasets._make_sample SHARED_DATA_DIR``.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from infotrafic._schema import validate_panel

__all__ = [
    "SAMPLE_ARCS",
    "SAMPLE_ARCS_FILE",
    "SAMPLE_FILE",
    "load_sample",
    "load_sample_arcs",
    "read_bundled",
]

#: The arcs of the bundled sample.
SAMPLE_ARCS: tuple[int, ...] = (191, 4264, 5672)

#: File name of the sample panel inside ``infotrafic/datasets/data``.
SAMPLE_FILE = "paris_sample_panel.parquet"

#: File name of the sample arcs table inside ``infotrafic/datasets/data``.
SAMPLE_ARCS_FILE = "paris_sample_arcs.parquet"


def read_bundled(name: str) -> pd.DataFrame:
    """Read one parquet file of ``infotrafic/datasets/data`` (a new frame each time)."""
    resource = resources.files("infotrafic.datasets").joinpath("data", name)
    with resources.as_file(resource) as path:
        return pd.read_parquet(path)


def load_sample() -> pd.DataFrame:
    """Load the bundled real sample as a canonical panel.

    Arcs 4264, 5672 and 191, hourly, 2022-11-01 to 2023-12-02 (UTC ``time`` = end of the
    counting hour). Source: Ville de Paris — comptages routiers permanents (opendata.paris.fr),
    ODbL.

    Returns
    -------
    pandas.DataFrame
        A new canonical panel sorted by ``(arc_id, time)``.

    Examples
    --------
    >>> from infotrafic.datasets import load_sample, SAMPLE_ARCS
    >>> panel = load_sample()
    >>> sorted(panel["arc_id"].unique().tolist()) == sorted(SAMPLE_ARCS)
    True
    >>> str(panel["time"].dtype)
    'datetime64[ns, UTC]'
    """
    return validate_panel(read_bundled(SAMPLE_FILE), name=SAMPLE_FILE)


def load_sample_arcs() -> pd.DataFrame:
    """Load the arcs table of the bundled sample (names, nodes, position, geometry).

    Source: Ville de Paris — comptages routiers permanents (opendata.paris.fr), ODbL.

    Returns
    -------
    pandas.DataFrame
        One row per arc of :data:`SAMPLE_ARCS`, columns :data:`~infotrafic.ARC_COLUMNS`.

    Examples
    --------
    >>> from infotrafic.datasets import load_sample_arcs
    >>> load_sample_arcs()["arc_id"].tolist()
    [191, 4264, 5672]
    """
    return read_bundled(SAMPLE_ARCS_FILE)
