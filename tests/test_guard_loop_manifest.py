"""The loop's provenance manifests (``manifests: true``): one per trained generation, auditable with
`cliffwatch audit`, following every item through accumulating pools, subsamples, filters and a resume."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import invoke

GAUSSIAN = {
    "name": "manifests",
    "family": {"name": "gaussian"},
    "data": {"source": "gaussian", "dim": 2},
    "policy": {"synthetic_fraction": 0.5, "human": "fresh", "samples": 40},
    "generations": 3,
    "seeds": 1,
    "chains": 3,
    "probes": ["moments"],
    "manifests": True,
}


def run(tmp_path, monkeypatch, capsys, config: dict, name: str) -> list:
    """Run a config through the CLI; its lineage's manifests, generation by generation."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = invoke(monkeypatch, capsys, "run", path, "--out", tmp_path / name, "-q")
    assert code == 0, err
    (lineage,) = (tmp_path / name / "lineages").iterdir()
    manifests = sorted(lineage.glob("manifest-*.parquet"))
    assert [int(m.stem.split("-")[1]) for m in manifests] == list(range(config["generations"] + 1))
    return manifests


def audit(tmp_path, monkeypatch, capsys, manifest, policy: str) -> tuple[int, dict]:
    path = tmp_path / "policy.yaml"
    path.write_text(policy)
    code, stdout, _ = invoke(monkeypatch, capsys, "audit", manifest, "--policy", path, "--json")
    return code, json.loads(stdout)


def hashes_by_id(manifests) -> dict:
    """id -> content hash over every manifest of a lineage; an id whose content changed is an error
    in the provenance bookkeeping (it lost track of which item is which)."""
    seen = {}
    for manifest in manifests:
        table = pq.read_table(manifest)
        for item, digest in zip(table.column("id").to_pylist(), table.column("content_hash").to_pylist()):
            assert seen.setdefault(item, digest) == digest, f"{manifest.name}: {item} changed content"
    return seen


def test_half_synthetic_replace_audits_at_one_half_and_depth_g(tmp_path, monkeypatch, capsys):
    manifests = run(tmp_path, monkeypatch, capsys, GAUSSIAN, "half")
    for g, manifest in enumerate(manifests):
        code, verdict = audit(tmp_path, monkeypatch, capsys, manifest,
                              f"min_human_fraction: 0.5\nmax_depth: {g}\nmax_unprovenanced_share: 0\ndedup: exact\n")
        assert code == 0 and verdict["passed"]
        assert verdict["rows"] == 3 * 40  # three chains of 40 items
        expected = 1.0 if g == 0 else 0.5  # continuous samples: no exact duplicates
        assert verdict["raw_human_fraction"] == verdict["effective_human_fraction"] == expected
        assert {r["rule"]: r["measured"] for r in verdict["rules"]}["max_depth"] == g
    # one human item in two is not enough for a policy of 0.6, and depth 3 breaks a limit of 2
    code, verdict = audit(tmp_path, monkeypatch, capsys, manifests[3], "min_human_fraction: 0.6\nmax_depth: 2\n")
    assert code == 1 and [r["passed"] for r in verdict["rules"]] == [False, False]


def test_fully_synthetic_replace_is_depth_g_at_generation_g(tmp_path, monkeypatch, capsys):
    config = {**GAUSSIAN, "policy": {"synthetic_fraction": 1.0, "samples": 40}}
    for g, manifest in enumerate(run(tmp_path, monkeypatch, capsys, config, "full")):
        table = pq.read_table(manifest).to_pydict()
        assert set(table["generation"]) == {g}
        assert set(table["source"]) == ({"human"} if g == 0 else {"synthetic"})
        assert set(table["generator"]) == ({None} if g == 0 else {"gaussian"})
        code, verdict = audit(tmp_path, monkeypatch, capsys, manifest, f"max_depth: {g}\nmin_generator_families: {min(g, 1)}\n")
        assert code == 0 and verdict["raw_human_fraction"] == (1.0 if g == 0 else 0.0)


def test_accumulate_subsample_tracks_items_and_resume_rebuilds_provenance(tmp_path, monkeypatch, capsys):
    from cliffwatch.config.load import load_config
    from cliffwatch.core.errors import LineageError
    from cliffwatch.execution.plan import run_metrics
    from cliffwatch.execution.store import RunStore
    from cliffwatch.execution.worker import run_lineage
    from cliffwatch.loop.engine import LineageRunner
    from cliffwatch.loop.lineage import Lineage

    config = {**GAUSSIAN, "policy": {**GAUSSIAN["policy"], "mode": "accumulate-subsample"}, "generations": 4}
    straight = run(tmp_path, monkeypatch, capsys, config, "straight")
    ids = hashes_by_id(straight)
    last = pq.read_table(straight[-1]).to_pydict()
    # the subsample mixes items of every generation, each with the depth it was made at
    assert len(last["id"]) == 3 * 40 and set(last["generation"]) == {0, 1, 2, 3, 4}
    for item, depth in zip(last["id"], last["generation"]):
        born = int(item.split("-")[1][1:])
        assert depth == 0 if "-h" in item else 1 <= depth <= born
    assert len(ids) > 3 * 40 * 2  # items from several generations went through the pool

    # interrupted after generation 2, resumed from its checkpoint: the same manifests
    path = tmp_path / "resumed.yaml"
    path.write_text(yaml.safe_dump(config))
    cfg = load_config(path)
    lineage = Lineage(cfg, 0)
    store = RunStore.create(tmp_path / "resumed", cfg.model_dump(mode="json"), "run", run_metrics([lineage]))
    original = LineageRunner._probe

    def crash_at_3(self, generation, *a):
        if generation == 3:
            raise KeyboardInterrupt
        return original(self, generation, *a)

    monkeypatch.setattr(LineageRunner, "_probe", crash_at_3)
    with pytest.raises(KeyboardInterrupt):
        list(run_lineage(lineage, str(store.lineage(lineage.id).path)))
    monkeypatch.setattr(LineageRunner, "_probe", original)
    checkpoint = store.lineage(lineage.id).load_checkpoint()
    # the pool's provenance comes in parts, one per generation that added to the pool
    assert {"provenance.depth", "provenance.pool.000001.born", "provenance.pool.000002.born"} <= set(checkpoint)
    old = {k: v for k, v in checkpoint.items() if not k.startswith("provenance.")}
    with pytest.raises(LineageError, match="predates provenance manifests"):
        next(LineageRunner(lineage).generations((2, old)))
    code, _, _ = invoke(monkeypatch, capsys, "run", path, "--out", tmp_path / "resumed", "-q")
    assert code == 0
    resumed = sorted((tmp_path / "resumed" / "lineages" / lineage.id).glob("manifest-*.parquet"))
    assert [m.name for m in resumed] == [m.name for m in straight]
    for a, b in zip(straight, resumed):
        assert pq.read_table(a).equals(pq.read_table(b))


def test_text_pool_with_a_verifier_marks_synthetic_items_verified(tmp_path, monkeypatch, capsys):
    config = {
        "name": "verified",
        "family": {"name": "ngram", "order": 3},
        "data": {"source": "corpus", "corpus": "facts"},
        "policy": {"synthetic_fraction": 0.7, "human": "fixed", "mode": "accumulate-subsample", "samples": 300,
                   "filters": [{"name": "verifier", "mode": "resample"}]},
        "generations": 2,
        "seeds": 1,
        "holdout": 200,
        "probe_samples": 50,
        "probes": ["facts"],
        "manifests": True,
    }
    manifests = run(tmp_path, monkeypatch, capsys, config, "text")
    hashes_by_id(manifests)  # sentences keep their content through the pool and its subsamples
    for manifest in manifests[1:]:
        table = pq.read_table(manifest).to_pydict()
        synthetic = np.array(table["source"]) == "synthetic"
        assert synthetic.any() and np.array(table["verified"])[synthetic].all()
        assert not np.array(table["verified"])[~synthetic].any()
        code, verdict = audit(tmp_path, monkeypatch, capsys, manifest, "min_verified_share: 1\nmax_depth: 2\ndedup: exact\n")
        assert code == 0 and verdict["rows"] == 300


def test_manifests_are_written_only_when_asked(tmp_path, monkeypatch, capsys):
    config = {**GAUSSIAN, "manifests": False}
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = invoke(monkeypatch, capsys, "run", path, "--out", tmp_path / "plain", "-q")
    assert code == 0, err
    (lineage,) = (tmp_path / "plain" / "lineages").iterdir()
    assert not list(lineage.glob("manifest-*.parquet"))
    # the same lineage either way: writing manifests changes no random stream
    from cliffwatch.config.schema import ExperimentConfig
    from cliffwatch.loop.lineage import Lineage

    with_manifests = Lineage(ExperimentConfig.model_validate(GAUSSIAN), 0)
    assert Lineage(ExperimentConfig.model_validate(config), 0).id == with_manifests.id
