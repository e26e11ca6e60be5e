"""A plugin whose import fails (a missing dependency of its own)."""

import cliffwatch_missing_dependency  # noqa: F401
