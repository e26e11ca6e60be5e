"""The data policy a manifest is audited against: a strict YAML or TOML file.

Every rule is optional (an absent rule is not checked); unknown fields and contradictory rules
(ones no manifest could satisfy together) are rejected when the file is read.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from cliffwatch.config.load import parse, read_file_text, read_yaml
from cliffwatch.config.schema import Strict
from cliffwatch.core.errors import ConfigError


class Policy(Strict):
    """What a training mix must satisfy."""

    min_human_fraction: float | None = Field(None, ge=0, le=1, description="smallest effective human share (distinct human items / distinct items, after the dedup below)")
    max_depth: int | None = Field(None, ge=0, description="largest recursion depth (generation) of any item")
    min_generator_families: int | None = Field(None, ge=0, description="fewest distinct generator families among synthetic and edited items")
    max_family_share: float | None = Field(None, gt=0, le=1, description="largest share of synthetic and edited items from one family")
    min_verified_share: float | None = Field(None, ge=0, le=1, description="smallest share of synthetic and edited items marked verified")
    max_unprovenanced_share: float | None = Field(None, ge=0, le=1, description="largest share of items without provenance (source unknown, or machine-made without generator or family)")
    min_estimated_human_share: float | None = Field(None, ge=0, le=1, description="smallest human share of the rows without provenance, as cliffwatch estimate measures it on their text: the conservative end of its interval (audit --estimate FILE)")
    dedup: Literal["off", "exact", "near"] = Field("exact", description="duplicate removal before the human share is measured: off, exact (by content_hash), near (also MinHash near duplicates of the text)")
    near_threshold: float | None = Field(None, gt=0, le=1, description="Jaccard similarity of word-bigram sets that makes a near duplicate (dedup: near; default 0.8)")

    @model_validator(mode="after")
    def _consistent(self) -> "Policy":
        needs_synthetic = (self.min_generator_families or 0) >= 1
        # (with dedup, exact copies of human items may be machine-made and still leave the share at 1)
        if needs_synthetic and self.min_human_fraction == 1 and self.dedup == "off":
            raise ValueError("contradictory rules: min_generator_families >= 1 needs machine-made items, min_human_fraction = 1 with dedup off forbids them")
        if needs_synthetic and self.max_depth == 0:
            raise ValueError("contradictory rules: min_generator_families >= 1 needs machine-made items (depth >= 1), max_depth = 0 forbids them")
        if self.near_threshold is not None and self.dedup != "near":
            raise ValueError(f"contradictory rules: near_threshold is set but dedup is {self.dedup!r} (set dedup: near)")
        return self

    @property
    def threshold(self) -> float:
        return self.near_threshold if self.near_threshold is not None else 0.8


def load_policy(path: str | Path) -> Policy:
    """A policy from a .yaml/.yml or .toml file; ConfigError naming the file and field otherwise."""
    path = Path(path)
    if path.suffix == ".toml":
        text = read_file_text(path, "policy")  # a regular file of bounded size, UTF-8
        try:
            raw = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError, ValueError) as err:
            raise ConfigError(f"{path}: invalid TOML ({err.__class__.__name__}: {err})") from None
    else:
        raw = read_yaml(path)
    return parse(Policy, raw, str(path))
