"""Filters applied to synthetic data before it enters training, one per file, registered."""
