"""Hypothesis strategy: canonical panels with absent hours, NaN values and different spans."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import strategies as st

_BASES = (
    pd.Timestamp("2023-03-25 20:00", tz="UTC"),  # spans the spring DST change of Paris
    pd.Timestamp("2023-10-28 20:00", tz="UTC"),  # and the autumn one
    pd.Timestamp("2024-02-28 22:00", tz="UTC"),
)
_values = st.one_of(
    st.just(float("nan")),
    st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_subnormal=True),
)
_states = st.one_of(st.none(), st.integers(min_value=0, max_value=4))


@st.composite
def panels(draw: st.DrawFn, *, max_arcs: int = 4, max_hours: int = 60) -> pd.DataFrame:
    """A valid panel; rows come shuffled so converters must sort."""
    arcs = draw(
        st.lists(
            st.integers(min_value=0, max_value=2**40), min_size=1, max_size=max_arcs, unique=True
        )
    )
    base = draw(st.sampled_from(_BASES))
    frames = []
    for arc in arcs:
        offset = draw(st.integers(min_value=-30, max_value=30))
        hours = draw(
            st.lists(
                st.integers(min_value=0, max_value=max_hours),
                min_size=1,
                max_size=max_hours,
                unique=True,
            )
        )
        n = len(hours)
        flows = draw(st.lists(_values, min_size=n, max_size=n))
        occ = draw(st.lists(_values, min_size=n, max_size=n))
        states = draw(st.lists(_states, min_size=n, max_size=n))
        frames.append(
            pd.DataFrame(
                {
                    "arc_id": np.full(n, arc, dtype="int64"),
                    "time": base + pd.to_timedelta(np.asarray(hours) + offset, unit="h"),
                    "flow": np.asarray(flows, dtype="float64"),
                    "occupancy": np.asarray(occ, dtype="float64"),
                    "traffic_state": pd.array(states, dtype="Int8"),
                }
            )
        )
    panel = pd.concat(frames, ignore_index=True)
    order = draw(st.permutations(range(len(panel))))
    return panel.iloc[list(order)].reset_index(drop=True)
