"""The audited manifest as Croissant metadata (JSON-LD), with its PROV-O provenance.

Dataset level: ``prov:wasAttributedTo`` lists the generator models (software agents) found in the
manifest, ``prov:wasGeneratedBy`` one generation activity per generator family, and
``prov:wasDerivedFrom`` the human data; the audit (verdicts, effective human fraction) goes in the
RAI ``rai:dataCollection`` text. Record level: a record set over the manifest file whose fields
include ``source``, ``generator``, ``generation`` and ``parent_id``, so a Croissant reader can
follow each row's lineage.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from cliffwatch.core.errors import DataError
from cliffwatch.core.files import replace_atomically, require_regular
from cliffwatch.data.manifest import MANIFEST_SCHEMA
from cliffwatch.data.tables import suffix_of
from cliffwatch.guard.audit import AuditResult

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
_CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/", "prov": "http://www.w3.org/ns/prov#",
    "citeAs": "cr:citeAs", "column": "cr:column", "conformsTo": "dct:conformsTo",
    "data": {"@id": "cr:data", "@type": "@json"}, "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "examples": {"@id": "cr:examples", "@type": "@json"}, "extract": "cr:extract", "field": "cr:field",
    "fileObject": "cr:fileObject", "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5",
    "parentField": "cr:parentField", "path": "cr:path", "recordSet": "cr:recordSet", "references": "cr:references",
    "regex": "cr:regex", "repeated": "cr:repeated", "replace": "cr:replace", "separator": "cr:separator",
    "source": "cr:source", "subField": "cr:subField", "transform": "cr:transform",
    "samplingRate": "cr:samplingRate", "equivalentProperty": "cr:equivalentProperty", "fileProperty": "cr:fileProperty",
}
_DATA_TYPES = {pa.string(): "sc:Text", pa.int64(): "sc:Integer", pa.bool_(): "sc:Boolean"}
_FORMATS = {".parquet": "application/x-parquet", ".jsonl": "application/jsonlines", ".csv": "text/csv",
            ".json": "application/json", ".jsonl.gz": "application/gzip", ".csv.gz": "application/gzip"}


def croissant_metadata(result: AuditResult, table: pa.Table, manifest: Path) -> dict:
    """The JSON-LD document for an audited manifest file (``table``: the manifest as read)."""
    if manifest.is_dir():
        raise DataError(f"{manifest}: Croissant output describes a manifest file; write the folder's manifest as Parquet first")
    machine = pc.filter(table.select(["family", "generator"]), pc.is_in(table.column("source"), value_set=pa.array(["synthetic", "edited"])))
    generators = sorted(g for g in pc.unique(machine.column("generator")).to_pylist() if g is not None)
    families = sorted(f for f in pc.unique(pc.coalesce(machine.column("family"), machine.column("generator"))).to_pylist() if f is not None)
    file_id = "manifest-file"
    fields = [
        {"@type": "cr:Field", "@id": f"manifest/{spec.name}", "name": spec.name, "dataType": _DATA_TYPES[spec.type],
         "source": {"fileObject": {"@id": file_id}, "extract": {"column": spec.name}}}
        for spec in MANIFEST_SCHEMA if spec.name in table.column_names and table.column(spec.name).null_count < table.num_rows
    ]
    verdicts = "; ".join(f"{r.rule} {r.op} {r.required:g}: {r.measured:.4g} ({'pass' if r.passed else 'FAIL'})" for r in result.rules)
    return {
        "@context": _CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": manifest.stem,
        "description": f"Training-data provenance manifest ({result.rows} rows) audited by cliffwatch: "
                       f"{'PASS' if result.passed else 'VIOLATION'}.",
        "url": manifest.resolve().as_uri(),
        "version": "1.0.0",
        "datePublished": date.today().isoformat(),
        "citeAs": f"cliffwatch provenance audit of {manifest.name}",
        # the licenses the rows declare (SPDX NOASSERTION when none does)
        "license": sorted(l for l in pc.unique(table.column("license")).to_pylist() if l) or "https://spdx.org/licenses/NOASSERTION",
        "rai:dataCollection": (
            f"effective human fraction {result.effective_human_fraction:.4g} after {result.dedup} dedup "
            f"({result.items} distinct items; raw {result.raw_human_fraction:.4g}); "
            f"{result.unprovenanced} row(s) without provenance. {verdicts}"
        ),
        "prov:wasAttributedTo": [{"@type": "prov:SoftwareAgent", "name": g} for g in generators],
        "prov:wasGeneratedBy": [{"@type": "prov:Activity", "name": f"synthetic data generation by {f}"} for f in families],
        "prov:wasDerivedFrom": [{"@type": "prov:Entity", "name": "human data",
                                 "description": f"{result.sources.get('human', 0)} human rows (generation 0)"}],
        "distribution": [{
            "@type": "cr:FileObject", "@id": file_id, "name": manifest.name, "contentUrl": manifest.name,
            "encodingFormat": _FORMATS.get(suffix_of(manifest), "application/octet-stream"), "sha256": _sha256(manifest),
        }],
        "recordSet": [{"@type": "cr:RecordSet", "@id": "manifest", "name": "manifest", "key": {"@id": "manifest/id"}, "field": fields}],
    }


def write_croissant(result: AuditResult, table: pa.Table, manifest: Path, out: Path) -> Path:
    """Write the metadata atomically and check it with mlcroissant when installed."""
    doc = croissant_metadata(result, table, Path(manifest))
    out = Path(out)
    if os.path.lexists(out):  # replaced only if it is a file: never a folder, a FIFO or a device
        require_regular(out, "a Croissant output file (JSON)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(out, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=2)))
    except OSError as err:
        raise DataError(f"{out}: cannot write the Croissant file ({err.strerror or err.__class__.__name__})") from None
    return out


def croissant_issues(path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) mlcroissant finds in a Croissant file; ImportError without mlcroissant."""
    import mlcroissant as mlc

    try:
        dataset = mlc.Dataset(jsonld=str(path))
    except mlc.ValidationError as err:
        return [line for line in str(err).splitlines() if line.strip()], []
    issues = dataset.metadata.ctx.issues
    return sorted(issues.errors), sorted(issues.warnings)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
