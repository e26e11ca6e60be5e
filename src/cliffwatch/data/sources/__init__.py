"""Human data sources, one per file, registered with ``@register_source``: where each generation's
human share and the held-out reference come from."""
