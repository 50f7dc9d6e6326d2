"""infotrafic.datasets (work in progress)."""
