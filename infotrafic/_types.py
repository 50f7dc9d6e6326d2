"""Accepted input types, in one place.

The aliases that name pandas types are written as strings, so that importing this module (as
every layer does) does not import pandas; type checkers read them as ordinary aliases.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    import pandas as pd

#: A filesystem path as accepted everywhere in the library.
PathLike: TypeAlias = str | os.PathLike[str]

#: A point in time. Naive values mean Europe/Paris wall-clock time unless a function says otherwise.
TimeLike: TypeAlias = "str | _dt.datetime | _dt.date | pd.Timestamp"

#: A duration: a pandas offset alias such as ``"1h"`` or ``"7D"``, or a timedelta.
DurationLike: TypeAlias = "str | _dt.timedelta | pd.Timedelta"
