"""The Family / Model interfaces every model family implements.

A family fits and samples batches of its modality (cliffwatch.core.modality says what a batch is).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from cliffwatch.core.modality import DataInfo, Modality, Sentences


class Params(BaseModel):
    """Base for a family's knobs: strict, so a typo names the field."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class Model(ABC):
    """A fitted model (for all C chains at once)."""

    family: "Family"

    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator, *, temperature: float = 1.0, top_p: float = 1.0) -> Any:
        """n items per chain, drawn with sampling bias (temperature; top-p truncation)."""

    @abstractmethod
    def nll(self, data: Any) -> np.ndarray:
        """Per-item negative log-likelihood in nats.

        vector/tokens: ``data`` is (n, ...) shared by every chain or (C, n, ...); returns (C, n).
        text: returns (n,) nats per sentence, end-of-sentence included.
        """

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """Arrays that fully describe the model (for save / resume)."""

    def save(self, path: str | Path) -> None:
        np.savez(path, **self.state())

    @property
    def chains(self) -> int:
        return 1


class Family(ABC):
    """How to fit a model to data. Subclasses are registered with ``@register_family``."""

    name: ClassVar[str]
    modality: ClassVar[Modality]
    Params: ClassVar[type[Params]] = Params
    supports_top_p: ClassVar[bool] = True
    random_fit: ClassVar[bool] = True  # fit() draws random numbers; an exact fit is passed rng=None

    def __init__(self, info: DataInfo, params: Params | dict | None = None) -> None:
        if info.modality is not self.modality:
            raise ValueError(f"family {self.name!r} models {self.modality} data, not {info.modality}")
        self.info = info
        self.params = params if isinstance(params, Params) else self.Params(**(params or {}))

    @abstractmethod
    def fit(self, data: Any, rng: np.random.Generator | None, init: Model | None = None) -> Model:
        """Fit one model per chain. ``init`` is this family's model of the previous generation (None
        at generation 0 and outside the loop): a family that can continue from it does (``gpt`` and
        ``hf`` keep its tokenizer, and its weights if asked); the others ignore it and fit from
        scratch. A family whose fit is exact (``random_fit = False``) receives no random stream
        from the loop."""

    @abstractmethod
    def from_state(self, state: dict[str, np.ndarray]) -> Model:
        """Rebuild a model from :meth:`Model.state`."""

    def load(self, path: str | Path) -> Model:
        with np.load(path, allow_pickle=False) as f:
            return self.from_state({k: f[k] for k in f.files})


class TextModel(Model):
    """A language model over a fixed vocabulary; sentences start after BOS and end with EOS."""

    @abstractmethod
    def continuation_nll(self, prompts: Any, continuations: Any) -> np.ndarray:
        """Nats of each continuation given its prompt (row i with row i), shape (n,); no EOS counted."""

    @abstractmethod
    def greedy(self, prompts: Any, max_new: int) -> Any:
        """The most likely next tokens after each prompt, up to max_new or end of sentence (Sentences)."""

    def answer(self, prompts: Any, max_new: int, closing: int) -> tuple[Any, np.ndarray]:
        """Greedy answers to the prompts without a final ``closing`` token (a template's "."), and
        each answer's nats given its prompt (what a probe of stated facts reads). A model that can
        score its greedy tokens while it decodes them may override this to skip the second pass."""
        answers = drop_final(self.greedy(prompts, max_new), closing)
        return answers, self.continuation_nll(prompts, answers)


def drop_final(sentences: Sentences, token: int) -> Sentences:
    """Each sentence without its last token where that is ``token``."""
    return Sentences.from_lengths(sentences.ids[~final_mask(sentences, token)],
                                  sentences.lengths - _ends_with(sentences, token))


def final_mask(sentences: Sentences, token: int) -> np.ndarray:
    """Per token of ``sentences.ids``: whether it is its sentence's last token and equal to ``token``."""
    mask = np.zeros(sentences.n_tokens, dtype=bool)
    mask[sentences.offsets[1:][_ends_with(sentences, token)] - 1] = True
    return mask


def _ends_with(sentences: Sentences, token: int) -> np.ndarray:
    nonempty = sentences.lengths > 0
    closing = np.zeros(len(sentences), dtype=bool)
    closing[nonempty] = sentences.ids[sentences.offsets[1:][nonempty] - 1] == token
    return closing
