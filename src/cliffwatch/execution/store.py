"""The run directory: config snapshot, per-generation Parquet results, checkpoints, a lock.

Layout::

    RUN/
      run.json                 marker + metadata: cliffwatch version, kind (run | sweep | compare),
                               created, and every metric's direction, range and description
      config.yaml              the config snapshot the run was started with
      .lock                    held (flock) by the process writing the run
      lineages/<id>/
        lineage.json           seed, labels (policy, family), corpus fingerprint and provenance
        checksums.json         rows and SHA-256 of every results file written, checked on resume
                               and before analysis (a missing or damaged file is named, never
                               skipped); it exists whenever a results file does, so a missing or
                               malformed one is damage too, never "nothing to check"
        gen-000003.parquet     one generation's probe results (while the lineage runs); every results
                               file carries its lineage's id in its metadata, so one copied in from
                               another lineage is caught even with its checksums, and a few of the
                               generation's model samples (metadata "samples")
        checkpoint.npz         model + loop state after the last finished generation (while the
                               lineage runs; removed when it finishes)
        results.parquet        every generation's results, once the lineage has finished
        samples.jsonl          one line per generation: {"generation": g, "items": [...]}, once finished
        artifacts/gen-000003.npz  arrays probes kept for the report (e.g. sample images), if any
        manifest-000003.parquet  the provenance manifest of generation 3's training set (one row
                               per item: its source, generator, recursion depth, content hash),
                               for `cliffwatch audit`; kept after the lineage finishes

Every file is written to a temporary name and renamed into place, so a crash never leaves
a half-written file that a reader or a resume would trust; a resume removes leftover temporary
files. A write that fails (disk full, read-only folder) raises StoreWriteError, which stops the run.

Damage is never repaired by trusting what is left: a lineage whose results cannot be proved whole
(a missing or malformed checksums.json, a file that fails its checksum, another lineage's file) is
named, in one line, by every reader, and recomputed from generation 0 by the command that wrote it
(lineages are deterministic, so the results are the same).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from cliffwatch.core.version import __version__
from cliffwatch.core.errors import RunLockedError, RunStoreError, StoreWriteError
from cliffwatch.core.files import replace_atomically
from cliffwatch.core.metrics import LOSSES, Metric
from cliffwatch.loop.engine import RESULT_SCHEMA

_HELD_LOCKS: set[int] = set()  # descriptors of run locks this process holds


def close_inherited_locks() -> None:
    """In a forked worker: drop its copies of the parent's lock descriptors, so that the lock is
    released when the parent dies even if a worker lives on."""
    for fd in list(_HELD_LOCKS):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_LOCKS.clear()


def _cannot(path: Path, action: str, err: OSError) -> str:
    reason = os.strerror(err.errno) if err.errno else str(err)
    hint = "; free some space and rerun the same command" if err.errno == errno.ENOSPC else ""
    return f"{path}: cannot {action} ({reason}){hint}"


def atomic_write(path: Path, write, written=None) -> None:
    """Write through ``write(tmp)`` to a temporary file, call ``written(tmp)`` (e.g. to record its
    checksum), then rename it into place."""
    def write_and_record(tmp: str) -> None:
        write(tmp)
        if written is not None:
            written(Path(tmp))

    try:
        replace_atomically(path, write_and_record)
    except OSError as err:
        raise StoreWriteError(_cannot(path, "write", err)) from None


def write_json(path: Path, obj: Any, *, indent: int | None = 2) -> None:
    """``obj`` as JSON; ``indent=None`` for files rewritten every generation (json's C encoder)."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=indent, sort_keys=True, default=str)))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunStoreError(f"{path}: missing") from None
    except (OSError, ValueError) as err:
        raise RunStoreError(f"{path}: unreadable ({err.__class__.__name__})") from None


POOL_PARTS = "pool_parts"  # checkpoint key: the generations whose pool parts it needs
SAMPLES = b"samples"  # results-file metadata key: a few of the generation's model samples, as JSON


def _pool_part(generation: int) -> str:
    return f"pool-{generation:06d}.npz"


def _savez(tmp: str, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_HEX = frozenset("0123456789abcdef")


def _checksums_problem(manifest: Any) -> str | None:
    """Why a checksums.json is malformed, or None: {file name: {"rows": n >= 0, "sha256": 64 hex digits}}."""
    if not isinstance(manifest, dict):
        return f"not a mapping of file names (a JSON {type(manifest).__name__})"
    for name, entry in manifest.items():
        if not isinstance(entry, dict) or set(entry) != {"rows", "sha256"}:
            return f"the entry of {name!r} is not {{rows, sha256}}"
        rows, digest = entry["rows"], entry["sha256"]
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            return f"the rows of {name!r} are not a count"
        if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
            return f"the sha256 of {name!r} is not a SHA-256 digest"
    return None


class LineageStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._parts: list[int] | None = None  # the checkpoint's pool parts, once read or written here

    def write_meta(self, meta: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / "lineage.json", meta)

    def meta(self) -> dict:
        """lineage.json: its seed, labels and provenance; RunStoreError naming it if malformed."""
        meta = _read_json(self.path / "lineage.json")
        seed = meta.get("seed") if isinstance(meta, dict) else None
        if (isinstance(seed, bool) or not isinstance(seed, int) or not isinstance(meta.get("labels", {}), dict)):
            raise RunStoreError(f"{self.name}/lineage.json: damaged (no seed or labels)")
        return meta

    @property
    def name(self) -> str:
        """The lineage's place in its run directory, as messages name it: ``lineages/<id>``."""
        return f"{self.path.parent.name}/{self.path.name}"

    def _manifest(self) -> dict:
        """checksums.json; empty before the first results file is written. RunStoreError naming it
        if it is malformed, or missing while results files exist."""
        path = self.path / "checksums.json"
        if not path.exists():
            if self.finished or any(self.path.glob("gen-*.parquet")):
                raise RunStoreError(f"{self.name}/checksums.json: missing, so the results files beside it cannot be "
                                    "proved whole")
            return {}
        manifest = _read_json(path)
        problem = _checksums_problem(manifest)
        if problem:
            raise RunStoreError(f"{self.name}/checksums.json: malformed ({problem})")
        return manifest

    def _record(self, name: str, rows: int):
        """A ``written`` callback for atomic_write: enter the file's rows and checksum in the
        manifest before the file appears under its name."""
        def record(tmp: Path) -> None:
            manifest = self._manifest()
            manifest[name] = {"rows": rows, "sha256": _sha256(tmp)}
            write_json(self.path / "checksums.json", manifest, indent=None)

        return record

    def discard_partial(self) -> None:
        """Remove temporary files a killed writer left behind (the caller holds the run's lock)."""
        for tmp in self.path.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def problems(self) -> list[str]:
        """What is damaged: every results file a finished generation needs must be present,
        readable, and match the rows and checksum recorded when it was written. Empty if sound."""
        stored = ("lineage.json", "checksums.json", "checkpoint.npz", "results.parquet")
        if not self.path.is_dir() or not any(p.name in stored or p.name.startswith("gen-") for p in self.path.iterdir()):
            return []  # nothing stored yet
        found = []
        try:
            self.meta()
            manifest = self._manifest()
            if self.finished or "results.parquet" in manifest:  # finished once, even if the file is gone now
                names = ["results.parquet"]
            else:
                last = self.checkpoint_generation()
                names = [f"gen-{g:06d}.parquet" for g in range(-1 if last is None else last + 1)]
                if last is not None:
                    found += [problem for g in self._pool_parts() if (problem := self._part_problem(g))]
        except RunStoreError as err:
            return [str(err)]
        for name in names:
            path, entry = self.path / name, manifest.get(name)
            if not path.is_file():
                found.append(f"{self.name}/{name}: missing")
            elif entry is None:
                found.append(f"{self.name}/{name}: not in checksums.json")
            elif _sha256(path) != entry["sha256"]:
                found.append(f"{self.name}/{name}: damaged (checksum differs from the one recorded)")
            else:
                try:
                    metadata = pq.read_metadata(path)
                except (OSError, pa.ArrowException) as err:
                    found.append(f"{self.name}/{name}: unreadable ({err.__class__.__name__})")
                    continue
                owner = (metadata.metadata or {}).get(b"lineage")
                if owner is None:
                    found.append(f"{self.name}/{name}: carries no lineage id (written by an older cliffwatch, or "
                                 "not by cliffwatch)")
                elif owner.decode(errors="replace") != self.path.name:
                    found.append(f"{self.name}/{name}: holds the results of lineage "
                                 f"{owner.decode(errors='replace')[:40]!r}, not of this one")
                elif metadata.num_rows != entry["rows"]:
                    found.append(f"{self.name}/{name}: {metadata.num_rows} rows, {entry['rows']} recorded")
        return found

    def reset(self) -> None:
        """Forget everything stored for this lineage (it is recomputed from generation 0)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self._parts = None

    @property
    def finished(self) -> bool:
        return (self.path / "results.parquet").exists()

    def checkpoint_generation(self) -> int | None:
        """The last finished generation, or None if none has finished."""
        try:
            if self.finished:
                return int(pq.read_metadata(self.path / "results.parquet").metadata[b"last_generation"])
            ckpt = self.path / "checkpoint.npz"
            if not ckpt.exists():
                return None
            with np.load(ckpt, allow_pickle=False) as f:
                return int(f["generation"])
        except Exception as err:  # numpy and pyarrow raise many kinds on a damaged file
            name = "results.parquet" if self.finished else "checkpoint.npz"
            raise RunStoreError(f"{self.name}/{name}: unreadable ({err.__class__.__name__})") from None

    def _pool_parts(self) -> list[int]:
        """The generations whose pool parts the checkpoint needs (see :meth:`write_generation`)."""
        try:
            with np.load(self.path / "checkpoint.npz", allow_pickle=False) as f:
                return [int(g) for g in f[POOL_PARTS]] if POOL_PARTS in f.files else []
        except Exception as err:  # numpy raises many kinds on a damaged file
            raise RunStoreError(f"{self.name}/checkpoint.npz: unreadable ({err.__class__.__name__})") from None

    def _part_problem(self, generation: int) -> str | None:
        """What is wrong with a pool part the checkpoint needs (None if it opens)."""
        path = self.path / _pool_part(generation)
        if not path.is_file():
            return f"{self.name}/{path.name}: missing"
        try:
            with np.load(path, allow_pickle=False) as f:
                f.files  # the zip's directory: a truncated or overwritten file fails here
        except Exception as err:  # numpy and zipfile raise many kinds on a damaged file
            return f"{self.name}/{path.name}: unreadable ({err.__class__.__name__})"
        return None

    def load_checkpoint(self) -> dict[str, np.ndarray]:
        """The checkpoint's arrays, with those of every pool part it needs (their keys name their
        generation)."""
        state = {}
        for name in ["checkpoint.npz", *(_pool_part(g) for g in self._pool_parts())]:
            try:
                with np.load(self.path / name, allow_pickle=False) as f:
                    state.update({k: f[k] for k in f.files})
            except FileNotFoundError:
                raise RunStoreError(f"{self.name}/{name}: missing") from None
            except Exception as err:
                raise RunStoreError(f"{self.name}/{name}: unreadable ({err.__class__.__name__})") from None
        return state

    def manifest_path(self, generation: int) -> Path:
        return self.path / f"manifest-{generation:06d}.parquet"

    def write_generation(self, generation: int, table: pa.Table, checkpoint: dict[str, np.ndarray],
                         pool_part: dict[str, np.ndarray] | None = None, samples: list | None = None) -> None:
        """Results first, then the checkpoint (none after the last generation: the lineage is
        finished next): a crash in between only repeats this generation. ``samples``: a few of
        this generation's model samples (the report shows them), kept in the results file's
        metadata. ``pool_part``: what this generation added to a growing pool, in a file of its
        own, written once; the checkpoint lists every generation's part it needs, so a pool of G
        generations costs G small writes, not G rewrites of the whole pool."""
        name = f"gen-{generation:06d}.parquet"
        metadata = {**(table.schema.metadata or {}), b"lineage": self.path.name}
        if samples:
            metadata[SAMPLES] = json.dumps({"generation": generation, "items": samples}, ensure_ascii=False)
        table = table.replace_schema_metadata(metadata)
        atomic_write(self.path / name, lambda tmp: pq.write_table(table, tmp), self._record(name, table.num_rows))
        if not checkpoint:
            return
        if self._parts is None:  # read once; this writer keeps it from then on
            self._parts = self._pool_parts() if (self.path / "checkpoint.npz").exists() else []
        parts = self._parts
        if pool_part:
            atomic_write(self.path / _pool_part(generation), lambda tmp: _savez(tmp, pool_part))
            parts = [g for g in parts if g < generation] + [generation]
        extra = {POOL_PARTS: np.array(parts, np.int64)} if parts else {}
        atomic_write(self.path / "checkpoint.npz", lambda tmp: _savez(tmp, {"generation": np.int64(generation),
                                                                            **checkpoint, **extra}))
        self._parts = parts

    def samples(self) -> list[dict]:
        """[{"generation": g, "items": [...]}, ...] in generation order (empty for runs without samples);
        RunStoreError naming a damaged file."""
        merged = self.path / "samples.jsonl"
        if merged.exists():
            try:
                return [_sample(json.loads(line), merged) for line in merged.read_text().splitlines() if line]
            except (OSError, ValueError) as err:
                raise RunStoreError(f"{self.name}/samples.jsonl: unreadable ({err.__class__.__name__})") from None
        return [record for p in sorted(self.path.glob("gen-*.parquet")) if (record := self._gen_samples(p))]

    def _gen_samples(self, path: Path, metadata: dict | None = None) -> dict | None:
        """The samples record a results file carries (None if it carries none)."""
        try:
            if metadata is None:
                metadata = pq.read_schema(path).metadata or {}
            return _sample(json.loads(metadata[SAMPLES]), path) if SAMPLES in metadata else None
        except (OSError, ValueError, pa.ArrowException) as err:
            raise RunStoreError(f"{self.name}/{path.name}: unreadable ({err.__class__.__name__})") from None

    def write_artifacts(self, generation: int, arrays: dict[str, np.ndarray]) -> None:
        """Arrays probes kept beside one generation's results (nothing is written if there are none)."""
        if not arrays:
            return
        (self.path / "artifacts").mkdir(exist_ok=True)

        def save(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

        atomic_write(self.path / "artifacts" / f"gen-{generation:06d}.npz", save)

    def artifacts(self) -> dict[int, dict[str, np.ndarray]]:
        """generation -> the arrays its probes kept."""
        out = {}
        for path in sorted((self.path / "artifacts").glob("gen-*.npz")):
            try:
                with np.load(path, allow_pickle=False) as f:
                    out[int(path.stem.split("-")[1])] = {k: f[k] for k in f.files}
            except Exception as err:  # numpy raises many kinds on a damaged file
                raise RunStoreError(f"{self.name}/artifacts/{path.name}: unreadable ({err.__class__.__name__})") from None
        return out

    def finish(self, last_generation: int) -> None:
        """Compact the per-generation files into results.parquet (and samples.jsonl) and drop them."""
        parts = sorted(self.path.glob("gen-*.parquet"))
        tables = [pq.read_table(p) for p in parts]
        kept = [d for p, t in zip(parts, tables) if (d := self._gen_samples(p, t.schema.metadata or {}))
                and d["generation"] <= last_generation]
        table = pa.concat_tables(tables).cast(RESULT_SCHEMA)
        table = table.filter(pc.less_equal(table["generation"], last_generation))
        table = table.replace_schema_metadata({"last_generation": str(last_generation), "lineage": self.path.name})
        if kept:  # before results.parquet: once that exists the lineage counts as finished
            lines = [json.dumps(d, ensure_ascii=False) for d in kept]
            atomic_write(self.path / "samples.jsonl", lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
        atomic_write(self.path / "results.parquet", lambda tmp: pq.write_table(table, tmp),
                     self._record("results.parquet", table.num_rows))
        for p in [*parts, *self.path.glob("pool-*.npz")]:
            p.unlink()
        (self.path / "checkpoint.npz").unlink(missing_ok=True)
        self._parts = None
        write_json(self.path / "checksums.json", {"results.parquet": self._manifest()["results.parquet"]})

    def verify(self) -> None:
        """RunStoreError naming the damage if a finished generation's results are missing or damaged
        (analysing less data than was computed would be silently wrong)."""
        was_finished = self.finished
        problems = self.problems()
        if problems and not was_finished and self.finished:  # it finished while we looked (a live run)
            problems = self.problems()
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise RunStoreError(f"{problems[0]}{more}; rerun the same command to recompute it")

    def results(self) -> pa.Table:
        """Every finished generation's results, verified first (see ``verify``)."""
        self.verify()
        if self.finished:
            return pq.read_table(self.path / "results.parquet")
        parts = sorted(self.path.glob("gen-*.parquet"))
        if not parts:
            return RESULT_SCHEMA.empty_table()
        last = self.checkpoint_generation()
        try:
            table = pa.concat_tables([pq.read_table(p) for p in parts]).cast(RESULT_SCHEMA)
        except FileNotFoundError:  # compacted into results.parquet since the listing
            return self.results()
        return table.filter(pc.less_equal(table["generation"], -1 if last is None else last))


def _sample(record: Any, path: Path) -> dict:
    """One generation's samples record, {"generation": g, "items": [...]}; RunStoreError naming the file otherwise."""
    if (not isinstance(record, dict) or isinstance(record.get("generation"), bool)
            or not isinstance(record.get("generation"), int) or not isinstance(record.get("items"), list)):
        raise RunStoreError(f"{path.parent.parent.name}/{path.parent.name}/{path.name}: damaged (not a generation's samples)")
    return record


class RunStore:
    MARKER = "run.json"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | Path, config: dict, kind: str, metrics: list[Metric],
               adaptive: bool = False) -> "RunStore":
        """Create a run directory atomically: it appears complete with its snapshot, or not at all.
        ``adaptive``: a sweep whose grid an adaptive search chooses as it runs."""
        path = Path(path)
        if path.exists():
            raise RunStoreError(f"{path}: already exists")
        staging = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; a run directory is not
            (staging / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
            (staging / "lineages").mkdir()
            meta = {"cliffwatch": __version__, "kind": kind, "adaptive": adaptive,
                    "created": datetime.now(timezone.utc).isoformat(), "metrics": [m.to_json() for m in metrics]}
            (staging / cls.MARKER).write_text(json.dumps(meta, indent=2))
            os.rename(staging, path)
        except OSError as err:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            raise StoreWriteError(_cannot(path, "create the run directory", err)) from None
        except BaseException:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> "RunStore":
        path = Path(path)
        if not path.is_dir():
            raise RunStoreError(f"{path}: no such run directory")
        if not (path / cls.MARKER).is_file():
            raise RunStoreError(f"{path}: not a cliffwatch run (no {cls.MARKER})")
        meta = _read_json(path / cls.MARKER)
        if not isinstance(meta, dict) or meta.get("kind") not in ("run", "sweep", "compare"):
            raise RunStoreError(f"{path / cls.MARKER}: damaged (no run kind)")
        return cls(path)

    @property
    def meta(self) -> dict:
        return _read_json(self.path / self.MARKER)

    @property
    def kind(self) -> str:
        """run | sweep | compare: which workflow wrote it."""
        return self.meta["kind"]

    @property
    def adaptive(self) -> bool:
        """An adaptive sweep: the lineages it holds are the ones its search chose."""
        return bool(self.meta.get("adaptive", False))

    def metrics(self) -> dict[str, Metric]:
        """Every metric the run's lineages report, with its direction, range and description;
        RunStoreError naming run.json if they are malformed."""
        declared = self.meta.get("metrics", [])
        try:
            if not isinstance(declared, list):
                raise TypeError
            metrics = [Metric.from_json(m) for m in declared]
        except (TypeError, ValueError, KeyError, AttributeError):
            raise RunStoreError(f"{self.path / self.MARKER}: damaged (malformed metric declarations)") from None
        for m in metrics:
            if (not isinstance(m.name, str) or m.higher_is_better not in (True, False, None)
                    or m.loss not in LOSSES):
                raise RunStoreError(f"{self.path / self.MARKER}: damaged (malformed declaration of metric {str(m.name)[:40]!r})")
        return {m.name: m for m in metrics}

    def config(self) -> dict:
        path = self.path / "config.yaml"
        try:
            config = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise RunStoreError(f"{path}: missing") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise RunStoreError(f"{path}: unreadable ({err.__class__.__name__})") from None
        if not isinstance(config, dict):
            raise RunStoreError(f"{path}: damaged (not a config mapping)")
        return config

    def lineage(self, lineage_id: str) -> LineageStore:
        return LineageStore(self.path / "lineages" / lineage_id)

    def lineages(self) -> list[LineageStore]:
        root = self.path / "lineages"
        return [LineageStore(p) for p in sorted(root.iterdir()) if (p / "lineage.json").exists()] if root.exists() else []

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive write access; a second writer fails at once instead of interleaving."""
        path = self.path / ".lock"
        try:
            fh = open(path, "a+")
        except OSError as err:
            raise RunStoreError(_cannot(path, "open the lock", err)) from None
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read(100).strip() or "another process"
                raise RunLockedError(f"{self.path}: locked by {holder}; wait for it or stop it") from None
            except OSError as err:
                raise RunStoreError(_cannot(path, "lock", err)) from None
            _HELD_LOCKS.add(fh.fileno())
            try:
                try:  # who holds it, for the message of a second writer; the lock works without it
                    fh.seek(0)
                    fh.truncate()
                    fh.write(f"pid {os.getpid()}")
                    fh.flush()
                except OSError:
                    pass
                yield
            finally:
                _HELD_LOCKS.discard(fh.fileno())
                try:
                    fh.truncate(0)
                except OSError:
                    pass
                fcntl.flock(fh, fcntl.LOCK_UN)


def load_results(run_dir: str | Path):
    """Every result of a run as one pandas DataFrame: one row per lineage x chain x generation x metric.

    Columns: lineage, seed, chain, generation, probe, metric, value, and the lineage labels
    (family, synthetic_fraction, human, mode, samples, temperature, top_p, and any swept field).
    """
    import pandas as pd

    store = RunStore.open(run_dir)
    frames = []
    for lineage in store.lineages():
        meta = lineage.meta()
        df = lineage.results().to_pandas()
        if df.empty:
            continue
        df.insert(0, "lineage", lineage.path.name)
        df.insert(1, "seed", meta["seed"])
        for key, value in meta.get("labels", {}).items():
            df[key] = value
        frames.append(df)
    if not frames:
        raise RunStoreError(f"{run_dir}: the run has no finished generations yet")
    df = pd.concat(frames, ignore_index=True)
    df.attrs["metrics"] = store.metrics()  # directions and ranges as the run recorded them
    return df
