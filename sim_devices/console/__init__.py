"""The sled's BMC shell and the pseudo-terminal console it is reached through."""
