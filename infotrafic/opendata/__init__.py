"""infotrafic.opendata (work in progress)."""
