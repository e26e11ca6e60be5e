"""The image track on scikit-learn's real handwritten digits: source, families, probes, self-correction.

Statistical checks compare paired chains (same data, same generation) and require the mean
difference to exceed 3 standard errors of that difference across chains.
"""

import numpy as np
import pytest

from conftest import metric, run_lineage
from cliffwatch.core.errors import ConfigError, DataError
from cliffwatch.core.modality import IMAGE
from cliffwatch.core.registry import FAMILIES, SOURCES
from cliffwatch.data.images import digit_classifier, real_digits

IMAGE_RUN = dict(family={"name": "image_gmm"}, data={"source": "digits-images"}, chains=4, holdout=500, probe_samples=500)


@pytest.fixture(autouse=True)
def one_thread():
    # the machine is shared: BLAS threads fighting over 2 cores make a 0.2 s fit take 5 s
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def source(holdout=500, seed=0):
    spec = SOURCES.get("digits-images").Spec(source="digits-images")
    return SOURCES.get("digits-images")(spec, holdout, np.random.default_rng(seed))


def clearly_above(a, b):
    """Mean of paired differences a - b above 3 standard errors (a, b: per-chain values)."""
    diff = np.asarray(a) - np.asarray(b)
    return diff.mean() > 3 * diff.std(ddof=1) / np.sqrt(len(diff))


def test_source_gives_real_labelled_images_split_without_overlap():
    src = source()
    images, labels = real_digits()
    assert src.reference().shape == (500, 8, 8) and src.pool.shape == (len(images) - 500, 8, 8)
    assert 0 <= src.pool.min() and src.pool.max() <= 1 and src.info.shape == (8, 8)
    # the labels travel with their images: the classifier reads the held-out digits correctly
    assert (digit_classifier().predict(src.reference()) == src.reference_labels).mean() > 0.95
    assert src.draw(30, np.random.default_rng(1), 3).shape == (3, 30, 8, 8)
    assert np.unique(np.concatenate([src.reference_labels, src.pool_labels]), return_counts=True)[1].sum() == len(labels)


def test_classifier_is_accurate_on_digits_it_never_saw():
    assert digit_classifier().accuracy > 0.95


@pytest.mark.parametrize("family", ["image_gmm", "image_vae"])
def test_family_draws_recognisable_digits_of_every_class(family):
    if family == "image_vae":
        pytest.importorskip("torch")
    results = run_lineage(**{**IMAGE_RUN, "family": {"name": family}}, generations=0, policy={"samples": 800})
    values = results[0].values()
    assert np.all(values["class_coverage"] == 1.0)
    assert np.all(values["feature_precision"] > 0.5)
    samples = results[0].model.sample(50, np.random.default_rng(0))
    assert samples.shape == (4, 50, 8, 8) and samples.min() >= 0 and samples.max() <= 1


def test_fully_synthetic_loop_loses_variety():
    results = run_lineage(**IMAGE_RUN, generations=5, policy={"samples": 500})
    frechet, recall = metric(results, "class_frechet"), metric(results, "feature_recall")
    assert clearly_above(frechet[-1], frechet[0])
    assert clearly_above(recall[0], recall[-1])


def test_low_temperature_raises_precision_while_recall_falls():
    """REPRODUCTIONS item 8 on images: the same seed's generation-0 model sampled sharper."""
    runs = {t: run_lineage(**IMAGE_RUN, generations=0, policy={"samples": 800, "temperature": t})[0].values()
            for t in (1.0, 0.5)}
    assert clearly_above(runs[0.5]["feature_precision"], runs[1.0]["feature_precision"])
    assert clearly_above(runs[1.0]["feature_recall"], runs[0.5]["feature_recall"])


def test_fresh_human_data_keeps_the_loop_closer_than_none():
    """REPRODUCTIONS item 7 on images: half fresh human data per generation vs fully synthetic."""
    synthetic = run_lineage(**IMAGE_RUN, generations=5, policy={"samples": 500})
    fresh = run_lineage(**IMAGE_RUN, generations=5, policy={"samples": 500, "synthetic_fraction": 0.5, "human": "fresh"})
    assert clearly_above(metric(synthetic, "class_frechet")[-1], metric(fresh, "class_frechet")[-1])


def test_class_coverage_sees_a_vanished_digit():
    from cliffwatch.probes.base import ProbeContext
    from cliffwatch.probes.image_coverage import ClassCoverage

    src = source()
    without_sevens = src.pool[src.pool_labels != 7][None]
    ctx = ProbeContext(model=None, generation=0, train=None, draw_samples=lambda: without_sevens,
                       reference=src.reference(), info=src.info, make_rng=lambda: np.random.default_rng(0), source=src)
    values = ClassCoverage()(ctx)
    assert values["digit_share_7"][0] < 0.02 and values["class_coverage"][0] == pytest.approx(0.9)


def test_self_correct_moves_each_sample_the_asked_share_toward_its_digits_nearest_centre():
    from cliffwatch.filters.self_correct import class_centres, correct

    src = source()
    centres, owners = class_centres(src.pool, src.pool_labels, 5)
    samples = FAMILIES.get("image_gmm")(src.info).fit(src.draw(300, np.random.default_rng(1), 2),
                                                      np.random.default_rng(2)).sample(100, np.random.default_rng(3))
    assert np.array_equal(correct(samples, centres, owners, 0.0), samples)
    snapped = correct(samples, centres, owners, 1.0).reshape(2, 100, -1)
    # strength 1 lands exactly on a centre of the digit the classifier read
    hit = np.abs(snapped[..., None, :] - centres).max(-1) < 1e-12
    assert hit.any(-1).all()
    predicted = digit_classifier().predict(samples)
    assert np.array_equal(owners[hit.argmax(-1)], predicted)
    half = correct(samples, centres, owners, 0.5).reshape(2, 100, -1)
    flat = samples.reshape(2, 100, -1)
    np.testing.assert_allclose(half, (flat + snapped) / 2, atol=1e-12)


def test_self_correct_runs_in_the_loop_and_raises_precision():
    plain = run_lineage(**IMAGE_RUN, generations=2, policy={"samples": 500})
    corrected = run_lineage(**IMAGE_RUN, generations=2, policy={"samples": 500, "filters": [
        {"name": "self_correct", "strength": 1.0, "clusters": 20}]})
    assert clearly_above(metric(corrected, "feature_precision")[-1], metric(plain, "feature_precision")[-1])


def test_sample_grids_are_stored_per_generation(tmp_path):
    from conftest import experiment
    from cliffwatch.execution.store import LineageStore
    from cliffwatch.execution.worker import run_lineage as run_into
    from cliffwatch.loop.lineage import Lineage

    config = experiment(**{**IMAGE_RUN, "chains": 1}, generations=2, policy={"samples": 300})
    events = list(run_into(Lineage(config, 0), str(tmp_path)))
    assert type(events[-1]).__name__ == "Finished", events[-1]
    grids = LineageStore(tmp_path).artifacts()
    assert sorted(grids) == [0, 1, 2]
    assert all(g["samples"].shape == (16, 8, 8) and g["samples"].dtype == np.uint8 for g in grids.values())
    from cliffwatch.report.image_grid import generation_grids

    assert len(generation_grids(grids).axes) == 3


# -- bad input ---------------------------------------------------------------------------------

def test_images_of_the_wrong_shape_are_a_one_line_data_error():
    family = FAMILIES.get("image_gmm")(source().info)
    with pytest.raises(DataError, match=r"expected images of shape \(8, 8\).*got an array of shape \(2, 40, 64\)"):
        family.fit(np.zeros((2, 40, 64)), np.random.default_rng(0))
    model = family.fit(source().draw(100, np.random.default_rng(0), 1), np.random.default_rng(0))
    with pytest.raises(DataError, match="shape"):
        model.nll(np.zeros((10, 28, 28)))
    with pytest.raises(DataError):
        IMAGE.check(np.zeros((5, 8)), (8, 8), "x")


def test_an_image_family_asked_to_fit_text_fails_at_load():
    from cliffwatch.config.load import parse
    from cliffwatch.config.schema import ExperimentConfig

    with pytest.raises(ConfigError, match="family: 'image_gmm' models image data; source 'corpus' gives text data"):
        parse(ExperimentConfig, {"family": {"name": "image_gmm"}, "data": {"source": "corpus"}}, "x.yaml")


def test_fewer_samples_than_k_is_a_one_line_data_error():
    from cliffwatch.core.errors import CliffwatchError

    with pytest.raises(CliffwatchError, match=r"3 samples, but its k-NN estimate needs more than k = 3"):
        run_lineage(**{**IMAGE_RUN, "probe_samples": 3}, generations=0, policy={"samples": 200})


def test_tile_places_every_image_in_its_cell():
    from cliffwatch.report.image_grid import tile

    images = np.arange(1, 5 * 2 * 3 + 1, dtype=np.uint8).reshape(5, 2, 3)
    grid = tile(images, columns=2, gap=1)
    assert grid.shape == (3 * 3 - 1, 2 * 4 - 1)
    assert np.array_equal(grid[0:2, 0:3], images[0]) and np.array_equal(grid[3:5, 4:7], images[3])
    assert np.array_equal(grid[6:8, 0:3], images[4]) and (grid[6:8, 4:7] == 0).all() and (grid[2] == 0).all()  # empty cell and gaps: no ink
