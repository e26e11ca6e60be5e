"""The conformance checks of cliffwatch.testing over every registered component whose extra is
installed, and over the third-party family in tests/plugins/ (what a plugin author runs)."""

import atexit
import functools
import importlib
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cliffwatch import testing
from cliffwatch.core.registry import FAMILIES
from cliffwatch.testing import check_family, parametrize_with_checks, registered_components

PLUGINS = Path(__file__).parent / "plugins"


@functools.cache  # built on first use: a deselected test does not pay for it
def _tiny_hf_model() -> str:
    """A 2-layer GPT-2 checkpoint made here (the hf family's default would need a download)."""
    from neural_helpers import text_info, tiny_gpt2_checkpoint

    folder = Path(tempfile.mkdtemp(prefix="cliffwatch-tiny-hf-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    info, sentences = text_info()
    return str(tiny_gpt2_checkpoint(folder, info, sentences))


def _plugin_family() -> type | None:
    """The factor-analysis family of tests/plugins/factor, imported as its package would be (then
    unregistered again: other tests list the registry)."""
    sys.path.insert(0, str(PLUGINS / "factor"))
    try:
        return importlib.import_module("cliffwatch_factor").FactorFamily
    except ImportError:  # scikit-learn missing
        return None
    finally:
        sys.path.remove(str(PLUGINS / "factor"))
        FAMILIES.unregister("factor")


def _components() -> list:
    hf = {("family", "hf"): lambda: {"model": _tiny_hf_model(), "steps": 5, "context": 64, "max_new_tokens": 16}}
    out = registered_components(hf)
    plugin = _plugin_family()
    return out + [(plugin, {"factors": 1})] if plugin is not None else out


def _marks(component, check: str):
    # the embedding probe's lineage check loads its neural encoder: a full-size run (test_embed
    # covers the probe in a lineage)
    return pytest.mark.slow if check == "check_probe_reports_in_range" and component.name == "embedding" else ()


@parametrize_with_checks(_components(), marks=_marks)
def test_conformance(component, check):
    check(component)


def test_every_registered_kind_and_the_plugin_are_checked():
    names = {(testing._kind(c)[0], getattr(c, "name", c.__name__)) for c, _ in _components()}
    for kind, registry in (("family", testing.FAMILIES), ("probe", testing.PROBES), ("filter", testing.FILTERS),
                           ("source", testing.SOURCES)):
        assert {(kind, n) for n in registry.available()} <= names
    assert ("family", "factor") in names or importlib.util.find_spec("sklearn") is None


def test_a_broken_family_fails_the_check_that_catches_it():
    """The checks can fail: a family whose fit has no init, and one whose samples ignore the stream."""
    from cliffwatch.families.gaussian import GaussianFamily

    class NoInit(GaussianFamily):
        def fit(self, data, rng):
            return super().fit(data, rng)

    with pytest.raises(AssertionError, match="init=None"):
        check_family(NoInit)

    class Noisy(GaussianFamily):
        def fit(self, data, rng, init=None):
            model = super().fit(data, rng)
            model.mean = model.mean + np.random.default_rng().normal(size=model.mean.shape)
            return model

    with pytest.raises(AssertionError, match="not deterministic"):
        check_family(Noisy)
