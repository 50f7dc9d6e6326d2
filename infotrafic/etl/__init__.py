"""infotrafic.etl (work in progress)."""
