"""The production side: audit a training mix's provenance manifest against a policy, and watch a
team's successive models for early signs of the cliff."""
