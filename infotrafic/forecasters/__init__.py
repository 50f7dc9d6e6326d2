"""infotrafic.forecasters (work in progress)."""
