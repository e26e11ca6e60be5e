"""Model families, one per file, registered with ``@register_family``."""
