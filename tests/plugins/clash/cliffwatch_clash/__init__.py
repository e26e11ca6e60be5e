"""A plugin that declares a family under a name cliffwatch already uses."""
