"""A run written for others: reports, plain logs, JUnit, STDF, exports, key numbers."""
