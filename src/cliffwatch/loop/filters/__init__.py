"""Filters applied to synthetic data before it enters training, one per file, registered with ``@register_filter``."""

from cliffwatch.loop.filters.base import Filter, FilterContext

__all__ = ["Filter", "FilterContext"]
