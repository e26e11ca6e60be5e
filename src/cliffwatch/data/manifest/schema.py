"""The manifest's columns and the values its ``source`` column may hold."""

from __future__ import annotations

import pyarrow as pa

SOURCES = ("human", "synthetic", "edited", "unknown")
REQUIRED = ("id", "source", "generation", "content_hash")
MANIFEST_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("source", pa.string()),
    ("generator", pa.string()),
    ("family", pa.string()),
    ("generation", pa.int64()),
    ("parent_id", pa.string()),
    ("verified", pa.bool_()),
    ("content_hash", pa.string()),
    ("text", pa.string()),
    ("license", pa.string()),
])
MANIFEST_FIELDS = tuple(MANIFEST_SCHEMA.names)
