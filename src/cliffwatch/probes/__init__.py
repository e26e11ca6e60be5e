"""Probes, one metric group per file, registered with ``@register_probe``."""

from cliffwatch.probes.base import Metric, Probe, ProbeContext

__all__ = ["Metric", "Probe", "ProbeContext"]
