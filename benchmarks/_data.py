"""Where the benchmarks find the real Paris files.

The files are bundled in the repository under ``tests/data/paris`` (the tests read them too;
*Ville de Paris — comptages routiers permanents (opendata.paris.fr), ODbL*, see
``LICENSE-DATA.md``). ``INFOTRAFIC_SHARED_DATA`` points the benchmarks at another folder with
the same layout (``archive/``, ``exports/``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The real files bundled in the repository.
BUNDLED_DATA = REPO / "tests" / "data" / "paris"
#: The real data folder: ``$INFOTRAFIC_SHARED_DATA`` when set, else :data:`BUNDLED_DATA`.
DEFAULT_DATA = Path(os.environ.get("INFOTRAFIC_SHARED_DATA") or BUNDLED_DATA)
