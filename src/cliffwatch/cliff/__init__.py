"""Cliff analysis: quality loss, cliff location with bootstrap CIs, knee fit, adaptive search, cost."""
