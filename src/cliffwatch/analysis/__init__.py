"""Pure analysis: a results table in, results out (quality loss, cliff, knee, cost, routes)."""
