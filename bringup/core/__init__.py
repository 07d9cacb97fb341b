"""What every layer shares: quantities and units, the clock, verdicts and states, time formats."""
