"""scikit-learn's real handwritten digits as images, and a small digit classifier trained on them.

The classifier plays the role Inception plays for FID on photographs: a fixed feature space in
which distances mean something about digits (its hidden layer), and a labeller for samples that
carry no label (its prediction). It is trained once per process on every real labelled digit,
with a fixed seed, and never downloads anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from cliffwatch.core.modality import IMAGE

SHAPE = (8, 8)
CLASSES = 10
GREY_LEVELS = 16.0  # the digits' pixels are counts 0..16 of an 4x4 block; images here are in [0, 1]


@cache
def real_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) in [0, 1], labels (1797,) in 0..9): every real digit, read-only."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / GREY_LEVELS).astype(float)
    labels = digits.target.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


@dataclass(frozen=True)
class DigitClassifier:
    """A one-hidden-layer ReLU network on pixels; ``features`` is its hidden layer."""

    weights: np.ndarray  # (64, hidden)
    bias: np.ndarray  # (hidden,)
    out_weights: np.ndarray  # (hidden, 10)
    out_bias: np.ndarray  # (10,)
    accuracy: float  # on the real digits it never saw during training

    def features(self, images: np.ndarray) -> np.ndarray:
        """Hidden-layer activations, (..., hidden) for images (..., 8, 8)."""
        images = IMAGE.check(images, SHAPE, "digit classifier") if np.ndim(images) >= 3 else np.asarray(images)
        flat = images.reshape(*images.shape[:-2], SHAPE[0] * SHAPE[1])
        return np.maximum(flat @ self.weights + self.bias, 0.0)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Predicted digit, (...) for images (..., 8, 8)."""
        return np.argmax(self.features(images) @ self.out_weights + self.out_bias, axis=-1)


@cache
def digit_classifier(hidden: int = 64) -> DigitClassifier:
    """Trained once per process (about two seconds) on a fixed 80% of the real digits; its
    accuracy is measured on the other 20%."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    images, labels = real_digits()
    flat = images.reshape(len(images), -1)
    order = np.random.default_rng(0).permutation(len(flat))
    train, test = order[: int(0.8 * len(flat))], order[int(0.8 * len(flat)):]
    with warnings.catch_warnings():  # 200 epochs reach ~98% held-out accuracy; more buys nothing
        warnings.simplefilter("ignore", ConvergenceWarning)
        net = MLPClassifier((hidden,), alpha=1e-3, max_iter=200, random_state=0).fit(flat[train], labels[train])
    return DigitClassifier(net.coefs_[0], net.intercepts_[0], net.coefs_[1], net.intercepts_[1],
                           float(net.score(flat[test], labels[test])))
