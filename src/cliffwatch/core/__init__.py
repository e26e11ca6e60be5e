"""The foundation every layer builds on: typed errors, seeding, the component registry, modalities."""
