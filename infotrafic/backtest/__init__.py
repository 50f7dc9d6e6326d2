"""infotrafic.backtest (work in progress)."""
