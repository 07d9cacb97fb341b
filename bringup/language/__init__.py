"""The procedure language: YAML with marks, the model, includes, expressions, the schema."""
