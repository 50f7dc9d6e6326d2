"""infotrafic.testing (work in progress)."""
