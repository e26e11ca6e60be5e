"""Strict configs: the schema, the sweep grid, loading with one-line errors."""
