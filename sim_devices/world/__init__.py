"""What every part of the simulated sled shares: its description and the agenda of timed events."""
