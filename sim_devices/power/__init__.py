"""Rails, regulators and their PMBus faces, sequencing, and the power each chip draws."""
