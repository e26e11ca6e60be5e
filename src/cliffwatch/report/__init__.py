"""Reports: terminal summaries and the self-contained HTML report."""
