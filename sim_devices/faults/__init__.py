"""The fault catalog, the injector, and the ground truth of what the run saw."""
