"""Loader of the bundled Paris road network: every counted arc with its geometry.

The network is the City of Paris arc referentiel (``referentiel-comptages-routiers``, snapshot
of 2020-12) read by :func:`infotrafic.etl.read_arcs`, with each geometry rounded to six decimals
(about 0.1 m) and stored as compact GeoJSON. Source: Ville de Paris — comptages routiers
permanents (opendata.paris.fr), ODbL. The file is rebuilt by
``python -m infotrafic.datasets._make_sample SHARED_DATA_DIR``.
"""

from __future__ import annotations

import pandas as pd

from infotrafic.datasets._sample import read_bundled

__all__ = ["NETWORK_FILE", "load_network"]

#: File name of the network arcs table inside ``infotrafic/datasets/data``.
NETWORK_FILE = "paris_network_arcs.parquet"


def load_network() -> pd.DataFrame:
    """Load the Paris road network: every arc of the referentiel with its geometry.

    About 3,300 arcs of the permanent counting network (names, upstream and downstream nodes,
    position, validity dates and the arc's ``LineString`` as GeoJSON text), enough to draw the
    whole network offline. Source: Ville de Paris — comptages routiers permanents
    (opendata.paris.fr), ODbL; referentiel snapshot of 2020-12.

    Returns
    -------
    pandas.DataFrame
        A new arcs table sorted by ``arc_id``, columns :data:`~infotrafic.ARC_COLUMNS`;
        ``geometry`` is a GeoJSON ``LineString`` (longitude, latitude) as compact JSON text.

    See Also
    --------
    load_sample_arcs : The arcs of the bundled sample only.
    infotrafic.etl.read_arcs : Read another referentiel file into an arcs table.

    Examples
    --------
    >>> import json
    >>> from infotrafic.datasets import load_network
    >>> network = load_network()
    >>> len(network) > 3000, network["arc_id"].is_unique
    (True, True)
    >>> shape = json.loads(network.set_index("arc_id").loc[4264, "geometry"])
    >>> shape["type"], len(shape["coordinates"]) >= 2
    ('LineString', True)
    """
    return read_bundled(NETWORK_FILE)
