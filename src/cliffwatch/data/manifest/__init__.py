"""Provenance manifests: one row per training item, saying where it came from.

Columns (``MANIFEST_FIELDS``): ``id``, ``source`` (human, synthetic, edited: a model's output edited
by people or people's text edited by a model, unknown), ``generator``
(model and version), ``family`` (the generator's model family), ``generation`` (recursion depth: 0
for human data, k for data made by a model trained on depth k-1 data), ``parent_id`` (the item this
one was derived from), ``verified``, ``content_hash``, and optional ``text`` and ``license``.

Read by cliffwatch.data.tables (the corpora's reader, with its rules and limits): JSON Lines
(also gzipped), a JSON array, Parquet, CSV, Arrow, a Hugging Face ``save_to_disk`` folder (its
Arrow files read with pyarrow; the ``datasets`` package is not needed) or a folder of shards. Other tools' columns are mapped in with a
strict ``Mapping``: explicit ``field=column`` pairs and presets for distilabel, a Hugging Face
dataset card and Croissant 1.1 provenance. Every check is a columnar (pyarrow / numpy) operation,
so a manifest of millions of rows validates in seconds.
"""

from cliffwatch.data.manifest.checks import validate
from cliffwatch.data.manifest.hashing import item_hashes, row_hashes, text_hashes
from cliffwatch.data.manifest.presets import PRESETS, Mapping
from cliffwatch.data.manifest.readers import read_manifest
from cliffwatch.data.manifest.schema import MANIFEST_FIELDS, MANIFEST_SCHEMA, REQUIRED, SOURCES
from cliffwatch.data.manifest.writer import write_manifest

__all__ = ["MANIFEST_FIELDS", "MANIFEST_SCHEMA", "PRESETS", "REQUIRED", "SOURCES", "Mapping", "item_hashes",
           "read_manifest", "row_hashes", "text_hashes", "validate", "write_manifest"]
