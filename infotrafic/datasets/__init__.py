"""Bundled real data: a small sample of the Paris permanent loop sensors.

Ville de Paris — comptages routiers permanents (opendata.paris.fr), ODbL. See
:func:`load_sample` and :func:`load_sample_arcs`.
"""

from infotrafic.datasets._sample import SAMPLE_ARCS, load_sample, load_sample_arcs

__all__ = ["SAMPLE_ARCS", "load_sample", "load_sample_arcs"]
