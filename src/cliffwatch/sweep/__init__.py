"""Running many lineages: one experiment's seeds, or a grid of policies x seeds, on local processes."""
