"""The self-consuming loop: mixing policies, filters and the generation engine."""
