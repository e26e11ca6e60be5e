"""Validation errors as one line: ``field.path: problem``, with the allowed fields for a typo."""

from __future__ import annotations

import reprlib
from typing import Any

from pydantic import BaseModel, ValidationError


def _allowed_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names allowed where an unknown field ``loc`` was found."""
    current: Any = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", {})
        annotation = fields[part].annotation if part in fields else None
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return sorted(getattr(current, "model_fields", {}))


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxstring, _SHORT.maxlong, _SHORT.maxother = 2, 4, 4, 60, 40, 60


def describe_error(err: ValidationError, prefix: str, model: type[BaseModel] | None = None) -> str:
    """The first error of a ValidationError as one line: ``field.path: problem``."""
    first = err.errors()[0]
    loc = tuple(first["loc"])
    path = ".".join(str(p) for p in loc)
    msg = first["msg"].removeprefix("Value error, ")
    if msg.startswith("@"):  # a nested component's own error, already ``field: problem``
        inner_path, _, msg = msg[1:].partition(": ")
        path = f"{path}.{inner_path}" if path else inner_path
    elif first["type"] == "extra_forbidden":
        allowed = _allowed_fields(model, loc) if model else []
        msg = "unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif first["type"] not in ("value_error", "missing") and "input" in first:
        msg += f" (got {_SHORT.repr(first['input'])})"  # bounded: the input may be huge or deep
    location = f"{prefix}{path}"
    return f"{location}: {msg}" if location else msg
