"""infotrafic.features (work in progress)."""
