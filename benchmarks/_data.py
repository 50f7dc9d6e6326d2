"""Where the benchmarks find the real Paris files: the tests' rule, checked the same way.

The files are bundled in the repository under ``tests/data/paris`` (the tests read them too;
*Ville de Paris — comptages routiers permanents (opendata.paris.fr), ODbL*, see
``LICENSE-DATA.md``). ``INFOTRAFIC_SHARED_DATA`` points the benchmarks at another folder with
the same layout (``archive/``, ``exports/``, ...); a missing folder or file is an error naming it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bundled_data import locate  # the tests' helper: one rule for both

#: The real data folder: ``$INFOTRAFIC_SHARED_DATA`` when set, else ``tests/data/paris``.
DEFAULT_DATA = locate()
