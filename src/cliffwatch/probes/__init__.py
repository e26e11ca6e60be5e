"""Probes, one metric group per file, registered with ``@register_probe``."""
