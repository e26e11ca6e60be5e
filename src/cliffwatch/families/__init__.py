"""Model families, one per file, registered with ``@register_family``."""

from cliffwatch.families.base import DataInfo, Family, Model, Params

__all__ = ["DataInfo", "Family", "Model", "Params"]
