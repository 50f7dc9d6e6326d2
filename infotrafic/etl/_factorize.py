"""Codes and distinct values of a raw column, read once (a categorical's own, else a hash pass)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["factorize"]


def factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index | np.ndarray]:
    """Return ``(codes, uniques)`` as :func:`pandas.factorize` does (code -1: missing).

    A categorical column (pyarrow's dictionary columns) already has them: its codes and
    categories are returned as they are, without hashing every row again.

    Examples
    --------
    >>> codes, uniques = factorize(pd.Series(["b", "a", None, "b"], dtype="category"))
    >>> codes.tolist(), list(uniques)
    ([1, 0, -1, 1], ['a', 'b'])
    >>> codes, uniques = factorize(pd.Series(["b", "a", None, "b"]))
    >>> codes.tolist(), list(uniques)
    ([0, 1, -1, 0], ['b', 'a'])
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), values.cat.categories
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, uniques
