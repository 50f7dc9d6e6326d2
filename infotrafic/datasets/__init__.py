"""Bundled real data: a small sample of the Paris permanent loop sensors and the road network.

Ville de Paris — comptages routiers permanents (opendata.paris.fr), ODbL. See
:func:`load_sample` and :func:`load_sample_arcs` (three arcs, hourly, 2022-11 to 2023-12) and
:func:`load_network` (every arc of the counting network with its geometry).
"""

from infotrafic.datasets._network import load_network
from infotrafic.datasets._sample import SAMPLE_ARCS, load_sample, load_sample_arcs

__all__ = ["SAMPLE_ARCS", "load_network", "load_sample", "load_sample_arcs"]
