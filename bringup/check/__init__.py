"""Before anything is touched: stations, validation, guardrails, and the compiled plan."""
