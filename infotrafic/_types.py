"""Accepted input types, in one place."""

from __future__ import annotations

import datetime as _dt
import os
from typing import TypeAlias

import pandas as pd

#: A filesystem path as accepted everywhere in the library.
PathLike: TypeAlias = str | os.PathLike[str]

#: A point in time. Naive values mean Europe/Paris wall-clock time unless a function says otherwise.
TimeLike: TypeAlias = str | _dt.datetime | _dt.date | pd.Timestamp

#: A duration: a pandas offset alias such as ``"1h"`` or ``"7D"``, or a timedelta.
DurationLike: TypeAlias = str | _dt.timedelta | pd.Timedelta
