"""How much of an unlabelled corpus is already synthetic: a share with a calibrated interval.

The detector scores each document by a log-likelihood ratio, log p_gen(x) - log p_human(x): an
n-gram model (cliffwatch's ngram family, scored vectorised) of the human reference against one of
the output of each suspected generator (several generators: the log of their equal mixture). The
reference is split, by a seeded permutation, into

- a part that fits the human model (its words seen twice are the vocabulary),
- for generators given as cliffwatch families, a part that is the training text of the copy of
  the generator (the loop's fully synthetic chain: fit, sample, refit, for G generations) whose
  samples fit the detector's model of the generator, and
- a held-out part whose scores calibrate the human class.

The synthetic class is calibrated by ``COPIES`` further copies of each family generator, each
fitted to its own seeded draw of text the detector never saw (the held-out part and a part kept
for them) with its own seeds. A real generator learnt from human text the detector never saw; so
did every copy. Past generation 1 a chain is random (each generation refits to its own samples),
so a copy and the true generator are different draws of the same spec: the share is estimated
with each copy's calibration set and the copies are combined by Rubin's rules
(analysis.quantify.combine, the between-copy variance corrected for the overlap of the copies'
training draws), so the interval carries the between-draw spread too.

A generator given as a file of its output is split into a part that fits its model and a
calibration part. analysis.quantify turns the three score samples into the share and its
interval (the detector's error rates are estimated, so their uncertainty is in it).

What it can see: only the generators it is given. Text of another family, temperature or later
generation scores elsewhere, and biases the share (docs/guard.md measures it). A corpus whose
scores are not a mixture of the two classes fails the fit check and is reported as "at least X%
synthetic, as seen by these detectors", a bound that holds whatever the unexplained text is.
Documents mostly made of words the reference never uses (another language) are flagged, not
scored.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from cliffwatch.analysis.quantify import ShareEstimate, combine, quantify
from cliffwatch.core.errors import ConfigError, DataError, RegistryError
from cliffwatch.core.files import replace_atomically
from cliffwatch.core.modality import TEXT, DataInfo, Sentences
from cliffwatch.core.registry import FAMILIES
from cliffwatch.core.seeding import rng as seeded_rng
from cliffwatch.data.corpora import TextCorpus, load_corpus
from cliffwatch.data.text import UNK, Vocab
from cliffwatch.families.ngram import NgramFamily

DETECTOR_ORDER = 3  # n of the detector's n-gram models (separates pydocs from its generators better than 2; docs/guard.md)
MIN_REFERENCE = 1000  # documents: fewer cannot fit a detector and still hold out a calibration set
MAX_CALIBRATION = 5000  # held-out human documents; the rest of the reference fits the models
SYNTHETIC_CALIBRATION = 4  # synthetic calibration documents per copy, per human one: generated text is not scarce,
# and a large set keeps its own sampling noise out of the between-copy spread (which Rubin's rules would count twice)
UNCOVERED_SHARE = 0.5  # a document with more of its words unknown to the reference is not covered ...
UNCOVERED_MIN_WORDS = 3  # ... if at least this many of them are unknown
MAX_UNCOVERED = 0.01  # share of uncovered documents above which the estimate refuses to run
COPIES = 5  # calibration copies of each family generator (between-draw spread; Rubin's rules need a few)
HISTORY_METRICS = ("synthetic_share", "synthetic_share_low", "synthetic_share_high", "synthetic_share_at_least",
                   "estimated_human_share_low")
LINEAGE = "estimate"  # the seeding key of every draw made here


@dataclass(frozen=True)
class GeneratorSpec:
    """A suspected generator: a cliffwatch family run for ``generation`` generations from the
    reference, or a file of its output."""

    label: str
    family: str | None = None
    params: dict = field(default_factory=dict)
    generation: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    path: Path | None = None

    @classmethod
    def parse(cls, spec: str) -> "GeneratorSpec":
        """``FAMILY[@G][:key=value,...]`` (family knobs, plus temperature and top_p), or the path
        of a file or dataset folder of generated text."""
        candidate = Path(spec)
        if candidate.exists() or candidate.suffix.lower() in (".txt", ".jsonl", ".csv", ".parquet"):
            return cls(label=f"samples {spec}", path=candidate)
        head, _, options = spec.partition(":")
        name, _, generation = head.partition("@")
        try:
            g = int(generation) if generation else 1
        except ValueError:
            raise ConfigError(f"generator {spec!r}: the generation after @ must be a whole number") from None
        if g < 1:
            raise ConfigError(f"generator {spec!r}: the generation after @ must be at least 1")
        params, sampling = {}, {}
        for item in filter(None, options.split(",")):
            key, eq, value = item.partition("=")
            if not eq:
                raise ConfigError(f"generator {spec!r}: expected key=value, got {item!r}")
            if key in ("temperature", "top_p"):
                try:
                    sampling[key] = float(value)
                except ValueError:
                    raise ConfigError(f"generator {spec!r}: {key} must be a number") from None
            else:
                params[key] = _scalar(value)
        if sampling.get("temperature", 1.0) <= 0 or not 0 < sampling.get("top_p", 1.0) <= 1:
            raise ConfigError(f"generator {spec!r}: temperature must be > 0 and top_p in (0, 1]")
        try:
            family = FAMILIES.get(name)
        except RegistryError as err:
            raise ConfigError(f"generator {spec!r}: {err} (or give a file of its output)") from None
        if family.modality is not TEXT:
            raise ConfigError(f"generator {spec!r}: family {name!r} models {family.modality} data, not text")
        return cls(label=spec, family=name, params=params, generation=g, **sampling)


def _scalar(value: str) -> int | float | bool | str:
    """A family knob's value as the strict family configs expect it: a whole number, a number,
    true/false, or else the text."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


@dataclass
class Detector:
    """Fitted n-gram models of the human reference and of each generator, and the scores of the
    held-out calibration documents of each class."""

    vocab: Vocab
    reference_words: int  # ids below this are words of the reference (coverage check)
    human: object
    generators: list[object]
    labels: list[str]
    calibration_human: np.ndarray
    calibration_copies: list[np.ndarray]  # synthetic calibration scores, one set per copy of the generators
    copy_training: Sentences  # the unseen reference text each calibration copy draws its training text from
    copy_size: int  # documents each copy learns from

    @property
    def copy_overlap(self) -> float:
        """The expected share of one calibration copy's training text that another's also holds."""
        return self.copy_size / len(self.copy_training) if len(self.calibration_copies) > 1 else 0.0

    def score(self, sentences: Sentences) -> np.ndarray:
        """log p_generators(x) - log p_human(x) per document, in nats."""
        generated = np.stack([-model.nll(sentences) for model in self.generators])
        mixture = np.logaddexp.reduce(generated, axis=0) - np.log(len(self.generators))
        return mixture + self.human.nll(sentences)


@dataclass
class EstimateResult:
    corpus: str
    reference: str
    generators: list[str]  # what the estimate covers
    detector: str
    documents: int  # scored
    uncovered: int  # documents flagged as not covered by the reference (not scored)
    estimate: ShareEstimate
    seed: int

    @property
    def share(self) -> float:
        return self.estimate.share

    @property
    def human_share_low(self) -> float:
        """The conservative end for a minimum-human rule: 1 - the interval's upper end, or 0 when
        the fit check leaves the share without an upper bound."""
        return 1 - self.estimate.high if self.estimate.fits else 0.0

    def statement(self) -> str:
        e, seen = self.estimate, ", ".join(self.generators)
        if e.fits:
            return (f"{e.share:.1%} synthetic ({e.confidence:.0%} interval {e.low:.1%} to {e.high:.1%}), "
                    f"as seen by detectors of: {seen}")
        return (f"at least {e.at_least:.1%} synthetic, as seen by these detectors ({seen}); the corpus holds text that "
                f"neither the reference nor these generators explain (fit p = {e.fit_p:.2g}), so there is no upper bound")

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "estimate"}
        out.update(self.estimate.to_dict(), human_share_low=self.human_share_low, statement=self.statement())
        return out


# ---- the detector --------------------------------------------------------------------------------


def _remap(corpus: TextCorpus, vocab: Vocab) -> Sentences:
    """The corpus's sentences as ids of ``vocab`` (words it lacks: the unknown word, 0)."""
    table = np.fromiter((vocab.index.get(w, 0) for w in corpus.vocab.words), dtype=np.int32, count=len(corpus.vocab))
    return Sentences(table[corpus.sentences.ids], corpus.sentences.offsets)


def _frequent(corpus: TextCorpus, ids: np.ndarray) -> set[str]:
    """The words of ``corpus`` that occur at least twice among ``ids``."""
    counts = np.bincount(ids, minlength=len(corpus.vocab))
    return {corpus.vocab.words[i] for i in np.flatnonzero(counts[1:] >= 2) + 1}


def _split(n: int, parts: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint random index sets of the given sizes (the last takes what is left)."""
    order = rng.permutation(n)
    bounds = np.cumsum([0, *parts[:-1]])
    return [np.sort(order[a:b]) for a, b in zip(bounds, [*bounds[1:], n])]


def _chain(spec: GeneratorSpec, info: DataInfo, train: Sentences, n: int, seed: int, copy: str = "") -> Sentences:
    """n documents of the spec's family at its generation: fitted to ``train``, then, each
    generation, refitted to as many of its own samples (the loop's fully synthetic chain)."""
    try:
        family = FAMILIES.get(spec.family)(info, spec.params)
    except ValidationError as err:
        problem = err.errors()[0]
        raise ConfigError(f"generator {spec.label!r}: {'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None
    data = train
    for g in range(1, spec.generation + 1):
        model = family.fit(data, seeded_rng(seed, LINEAGE, g, f"fit {spec.label} {copy}"))
        size = n if g == spec.generation else len(train)
        data = model.sample(size, seeded_rng(seed, LINEAGE, g, f"sample {spec.label} {copy}"), temperature=spec.temperature,
                            top_p=spec.top_p)
    return data


def fit_detector(reference: TextCorpus, specs: list[GeneratorSpec], *, seed: int = 0, order: int = DETECTOR_ORDER,
                 field: str = "text") -> Detector:
    """The detector for ``specs`` (at least one), fitted and calibrated on ``reference``."""
    if not specs:
        raise ConfigError("name at least one suspected generator (--generator FAMILY[@G] or a file of its output)")
    n = len(reference.sentences)
    made = [s for s in specs if s.path is None]
    need = MIN_REFERENCE
    if n < need:
        raise DataError(f"{reference.name}: the human reference has {n} documents, too few to fit a detector and hold "
                        f"out a calibration set (need at least {need})")
    calibration = min(MAX_CALIBRATION, n // 4)
    # family generators: one copy, made from its own part, fits the detector's model of the
    # generator; the calibration copies learn from text the detector never saw (the human
    # calibration part and one more part), so their samples relate to the detector as a real
    # generator's do
    training = n // 5 if made else 0
    fit_part, train_model, train_calibration, cal_part = _split(
        n, [n - calibration - 2 * training, training, training, calibration], seeded_rng(seed, LINEAGE, 0, "split reference"))
    files = [(s, load_corpus(s.path, field=field)) for s in specs if s.path is not None]
    # The vocabulary: words seen at least twice in the part that fits the human model (and in the
    # generator files). Everything else (the held-out parts, the generator copies' training text,
    # the corpus) then meets unknown words at the rate text the models never saw does, and every
    # model learns how often an unknown word comes from the singletons it was fitted to.
    words = _frequent(reference, reference.sentences.take(fit_part).ids)
    extra = sorted(set().union(*(_frequent(c, c.sentences.ids) for _, c in files)) - words)
    vocab = Vocab((UNK, *sorted(words), *extra))
    info = DataInfo(TEXT, vocab=vocab)
    ids = _remap(reference, vocab)
    detector_family = NgramFamily(info, {"order": order})
    fit_rng = seeded_rng(seed, LINEAGE, 0, "fit detector")
    human = detector_family.fit(ids.take(fit_part), fit_rng)
    per_generator = min(len(fit_part), 4 * calibration)  # documents that fit each generator's model
    unseen = ids.take(np.concatenate([train_calibration, cal_part]))
    copies = COPIES if made else 1
    # each copy's training text: its own seeded draw of `training` unseen documents
    draws = [np.sort(seeded_rng(seed, LINEAGE, 0, f"copy {k} training").choice(len(unseen), training, replace=False))
             for k in range(copies)]
    models, labels, calibrated = [], [], []  # calibrated: per generator, one sample set per copy
    for spec in specs:
        if spec.path is None:
            models.append(detector_family.fit(_chain(spec, info, ids.take(train_model), per_generator, seed, "model"), fit_rng))
            calibrated.append([_chain(spec, info, unseen.take(d), SYNTHETIC_CALIBRATION * calibration, seed,
                                      f"calibration {k}")
                               for k, d in enumerate(draws)])
        else:
            samples = _remap(dict((id(s), c) for s, c in files)[id(spec)], vocab)
            if len(samples) < 2 * min(calibration, MAX_CALIBRATION // 5):
                raise DataError(f"{spec.path}: {len(samples)} documents of generator output, too few to fit and "
                                f"calibrate its detector (need at least {2 * min(calibration, MAX_CALIBRATION // 5)})")
            own_cal = min(calibration, len(samples) // 2)
            sample_fit, sample_cal = _split(len(samples), [len(samples) - own_cal, own_cal],
                                            seeded_rng(seed, LINEAGE, 0, f"split {spec.label}"))
            models.append(detector_family.fit(samples.take(sample_fit), fit_rng))
            calibrated.append([samples.take(sample_cal)] * copies)  # a file is one draw of its generator
        labels.append(spec.label)
    detector = Detector(vocab, len(words) + 1, human, models, labels, np.zeros(0), [],
                        unseen, training)
    detector.calibration_human = detector.score(ids.take(cal_part))
    # each generator's calibration documents in equal number: the synthetic class is their even mix
    even = min(len(c[0]) for c in calibrated)
    detector.calibration_copies = [detector.score(Sentences.concat([c[k].take(np.arange(even)) for c in calibrated]))
                                   for k in range(copies)]
    return detector


def uncovered(sentences: Sentences, reference_words: int) -> np.ndarray:
    """Per document, whether most of its words are unknown to the reference (another language,
    another script): those are flagged rather than scored."""
    unknown = (sentences.ids == 0) | (sentences.ids >= reference_words)
    count = np.bincount(sentences.sentence_index(), weights=unknown, minlength=len(sentences))
    return (count >= UNCOVERED_MIN_WORDS) & (count > UNCOVERED_SHARE * sentences.lengths)


# ---- the estimate --------------------------------------------------------------------------------


def estimate(corpus: str | Path, reference: str | Path, generators: list[str], *, seed: int = 0,
             confidence: float = 0.95, method: str = "ml", field: str = "text", order: int = DETECTOR_ORDER,
             max_uncovered: float = MAX_UNCOVERED) -> EstimateResult:
    """The synthetic share of ``corpus`` (see the module docstring). Raises DataError for an
    empty or unreadable corpus, a reference too small, or too many documents the reference does
    not cover; ConfigError for a generator that cannot be made."""
    specs = [GeneratorSpec.parse(g) for g in generators]
    human = load_corpus(reference, field=field)
    text = load_corpus(corpus, field=field)
    detector = fit_detector(human, specs, seed=seed, order=order, field=field)
    share, flagged = estimate_with(detector, text, str(corpus), confidence=confidence, method=method,
                                   max_uncovered=max_uncovered)
    return EstimateResult(
        corpus=str(corpus), reference=str(reference), generators=detector.labels,
        detector=f"ngram order {order} log-likelihood ratio (generators vs human reference)",
        documents=share.documents, uncovered=flagged, estimate=share, seed=seed,
    )


def estimate_with(detector: Detector, text: TextCorpus, where: str, *, confidence: float = 0.95, method: str = "ml",
                  max_uncovered: float = MAX_UNCOVERED) -> tuple[ShareEstimate, int]:
    """The share of a loaded corpus under a fitted detector, and how many documents were flagged
    as not covered by the reference (not scored)."""
    ids = _remap(text, detector.vocab)
    flagged = uncovered(ids, detector.reference_words)
    if flagged.mean() > max_uncovered:
        first = int(np.flatnonzero(flagged)[0])
        raise DataError(f"{where}: {int(flagged.sum())} of {len(flagged)} documents ({flagged.mean():.1%}; first: "
                        f"document {first + 1}) are mostly words the reference never uses (another language?); "
                        f"give a human reference that covers them")
    scores = detector.score(ids.take(np.flatnonzero(~flagged)))
    share = combine([quantify(detector.calibration_human, synthetic, scores, method=method, confidence=confidence)
                     for synthetic in detector.calibration_copies], detector.copy_overlap)
    return share, int(flagged.sum())


# ---- outputs -------------------------------------------------------------------------------------


def write_json(result: EstimateResult, path: str | Path) -> None:
    """The result as JSON (what ``cliffwatch audit --estimate`` reads), written atomically."""
    text = json.dumps(result.to_dict(), indent=2)
    replace_atomically(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def append_history(result: EstimateResult, path: str | Path) -> int:
    """Append the estimate to a snapshot history that ``cliffwatch monitor`` reads (long CSV:
    generation, metric, value; the generation is the snapshot number, one more than the last).
    Returns the snapshot number. The file is rewritten atomically."""
    path = Path(path)
    rows: list[list[str]] = []
    if path.exists():
        try:
            with open(path, newline="", encoding="utf-8") as file:
                rows = list(csv.reader(file))
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise DataError(f"{path}: unreadable history ({err.__class__.__name__})") from None
        if not rows or rows[0] != ["generation", "metric", "value"]:
            raise DataError(f"{path}: not an estimate history (expected the header generation,metric,value)")
        try:
            last = max((int(r[0]) for r in rows[1:]), default=-1)
        except (ValueError, IndexError):
            raise DataError(f"{path}: not an estimate history (a row without a whole-number generation)") from None
    else:
        rows, last = [["generation", "metric", "value"]], -1
    snapshot = last + 1
    e = result.estimate
    values = (e.share, e.low, e.high, e.at_least, result.human_share_low)
    rows.extend([str(snapshot), name, repr(float(v))] for name, v in zip(HISTORY_METRICS, values))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    replace_atomically(path, lambda tmp: Path(tmp).write_text(buffer.getvalue(), encoding="utf-8"))
    return snapshot


def read_estimate(path: str | Path) -> dict:
    """A result written by :func:`write_json`, checked for the fields the audit uses."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{path}: not an estimate (unreadable JSON: {err.__class__.__name__})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: not an estimate (a JSON object is expected)")
    for key in ("human_share_low", "share", "low", "high", "generators", "statement"):
        if key not in raw:
            raise DataError(f"{path}: not an estimate of cliffwatch estimate (no {key!r})")
    value = raw["human_share_low"]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise DataError(f"{path}: human_share_low must be a number in [0, 1]")
    return raw
