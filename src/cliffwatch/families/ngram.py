"""Word n-gram language model with interpolated Kneser-Ney smoothing, vectorised with numpy.

Token ids are the vocabulary's 0..V-1; BOS = V and EOS = V+1 are added here, so B = V + 2 ids.

Tables. Order k keeps one sorted table of the k-gram types seen in training, keyed
``context_rank * B + word``, where context_rank is the row of the (k-1)-gram context in order
k-1's table (order 1 has one empty context, so its keys are the token ids and its rows hold every
token, seen or not). Sorting by key puts each context's continuations in one contiguous run (a CSR
layout), a lookup is one ``searchsorted`` per order, and keys stay far below 2**63 at any order.

Counts (Chen & Goodman 1998, as in KenLM): the highest order and the n-grams that start with BOS
keep raw counts; every other n-gram counts the distinct words seen before it (continuation count).
Interpolation, with D_k the absolute discount of order k:

    P_k(w | h) = max(c_k(h w) - D_k, 0) / c_k(h) + gamma_k(h) P_{k-1}(w | h'),
    gamma_k(h) = D_k #{w : c_k(h w) > 0} / c_k(h)         (1 for a context never seen),
    P_0 = uniform over the vocabulary and EOS,

so every word and EOS has a positive probability and each distribution sums to 1. Each table row
stores its interpolated probability p_k(h w) = P_k(w | h); because a continuation seen at order k
is also seen at every lower order, P(w | h) = Gamma_m(h) p_m(h_m w), with m the highest order whose
table holds h_m w and Gamma_m the product of the gammas of the orders above m (the backoff form of
the same model). Scoring and sampling both use this form.

Sampling runs every sentence of a batch in lockstep, one numpy step per token position; see
:meth:`NgramModel.sample` for the exact temperature and top-p sampler.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from cliffwatch.config.limits import at_most
from cliffwatch.core.modality import TEXT, Sentences
from cliffwatch.core.errors import DataError
from cliffwatch.families.base import DataInfo, Family, Model, Params, TextModel, drop_final, final_mask
from cliffwatch.core.registry import register_family

# Keys and positions are packed into one int64 below this many bits (a module constant so that a
# test can force the fallback for keys too large to pack)
PACKED_BITS = 63

# Floor of the estimated discount: with no singletons (a tiny or duplicated corpus) the estimate
# n1 / (n1 + 2 n2) is 0, which would leave seen contexts no mass for unseen words.
MIN_DISCOUNT = 0.1


class NgramParams(Params):
    order: Annotated[int, at_most(10, "a longer context memorises whole sentences of any corpus")] = Field(3, ge=1, description="n: each word is predicted from the n-1 words before it")
    discount: float | None = Field(
        None, gt=0.0, lt=1.0, description="Kneser-Ney discount of every order; None: n1/(n1+2 n2) per order"
    )
    max_length: int = Field(40, ge=1, le=10_000, description="most tokens of a sampled sentence (cut there without EOS)")


@dataclass(frozen=True)
class _Level:
    """One order's table and what is derived from it (rows sorted by key, so grouped by context)."""

    keys: np.ndarray  # int64 (rows,): context_rank * B + word
    counts: np.ndarray  # int64 (rows,): Kneser-Ney counts (raw or continuation)
    suffix: np.ndarray  # int64 (rows,): row of the (k-1)-gram suffix in the order below
    context: np.ndarray  # int64 (rows,): context rank of each row
    words: np.ndarray  # int64 (rows,)
    offsets: np.ndarray  # int64 (contexts + 1,): rows of context c are offsets[c]:offsets[c+1]
    gamma: np.ndarray  # float64 (contexts,): backoff weight; 1 where the context has no rows
    prob: np.ndarray  # float64 (rows,): interpolated P_k(word | context)
    lower: np.ndarray  # float64 (rows,): P_{k-1}(word | suffix of context), the backoff part


@dataclass(frozen=True)
class _Tempered:
    """One level's arrays for sampling at one temperature (q = p ** (1 / T))."""

    mass: np.ndarray  # (contexts,): sum of q over the context's rows
    lower_mass: np.ndarray  # (contexts,): sum of the rows' lower-order q
    cumulative: np.ndarray  # (rows + 1,): running sum of q / mass[context], for draws within a context
    # top-p only: the same running sums in _Sorted.by_prob order, and of lower q / lower_mass in
    # _Sorted.by_lower order
    by_prob_cumulative: np.ndarray | None = None
    by_lower_cumulative: np.ndarray | None = None


@dataclass(frozen=True)
class _Sorted:
    """One level's rows sorted within each context by probability, descending (top-p)."""

    by_prob: np.ndarray  # row order: (context, prob descending); ties by word id
    prob: np.ndarray  # prob in that order
    by_lower: np.ndarray  # row order: (context, lower descending)
    lower: np.ndarray  # lower in that order
    steps: int  # bisection steps that cover the longest context


def _running_sum(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values) + 1)
    np.cumsum(values, out=out[1:])
    return out


def _search(table: np.ndarray, needles: np.ndarray, side: str = "left") -> np.ndarray:
    """np.searchsorted, with large batches of needles searched in sorted order: numpy then starts
    each search from the last one's result, several times faster on a table bigger than the caches."""
    if len(needles) < 512:
        return np.searchsorted(table, needles, side=side)
    order = np.argsort(needles)
    out = np.empty(len(needles), dtype=np.int64)
    out[order] = np.searchsorted(table, needles[order], side=side)
    return out


def _previous(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """values shifted one position right within each sentence; -1 at the sentence starts (BOS)."""
    out = np.empty_like(values)
    out[1:] = values[:-1]
    out[starts] = -1
    return out


def _first_not_above(values: np.ndarray, start: np.ndarray, end: np.ndarray, scale: np.ndarray, t: np.ndarray,
                     steps: int) -> np.ndarray:
    """Per row, the first index i in [start, end) with scale * values[i] <= t (values descending there).

    A vectorised bisection that compares the same products the sampler compares, so a word is
    never counted as more probable than itself.
    """
    lo, hi = start.copy(), end.copy()
    for _ in range(steps):
        mid = (lo + hi) >> 1
        above = scale * values[np.minimum(mid, len(values) - 1)] > t
        searching = lo < hi
        lo = np.where(searching & above, mid + 1, lo)
        hi = np.where(searching & ~above, mid, hi)
    return lo


class NgramModel(TextModel):
    """A fitted interpolated Kneser-Ney n-gram model (see the module docstring)."""

    def __init__(self, family: NgramFamily, keys: list[np.ndarray], counts: list[np.ndarray],
                 suffixes: list[np.ndarray], discounts: np.ndarray) -> None:
        self.family = family
        self.vocab_size = len(family.info.vocab)
        self.bos, self.eos, self.base = self.vocab_size, self.vocab_size + 1, self.vocab_size + 2
        self.discounts = np.asarray(discounts, dtype=np.float64)
        # P_0: uniform over the V words and EOS; BOS is never predicted
        lower = np.full(self.base, 1.0 / (self.vocab_size + 1))
        lower[self.bos] = 0.0
        self.levels: list[_Level] = []
        for k, (key, count, suffix) in enumerate(zip(keys, counts, suffixes), start=1):
            if k > 1:
                lower = self.levels[-1].prob[suffix]
            n_contexts = 1 if k == 1 else len(keys[k - 2])
            self.levels.append(self._level(key, count, suffix, lower, self.discounts[k - 1], n_contexts))
        self._tempered_cache: dict[tuple[float, bool], list[_Tempered]] = {}
        self._sort_cache: list[_Sorted] | None = None
        self._mixture_cache: list[np.ndarray] | None = None
        self._top_cache: list[np.ndarray] | None = None

    @property
    def order(self) -> int:
        return len(self.levels)

    def _level(self, keys, counts, suffix, lower, discount, n_contexts) -> _Level:
        context, words = np.divmod(keys, self.base)
        offsets = np.zeros(n_contexts + 1, dtype=np.int64)
        np.cumsum(np.bincount(context, minlength=n_contexts), out=offsets[1:])
        total = np.bincount(context, weights=counts, minlength=n_contexts)
        # only order 1 holds rows of count 0 (the words never seen)
        types = np.diff(offsets) if counts.all() else np.bincount(context, weights=counts > 0, minlength=n_contexts)
        seen = total > 0
        gamma = np.where(seen, discount * types / np.where(seen, total, 1.0), 1.0)
        # max(c - D, 0) / total + gamma * lower, in place (the same operations, fewer temporaries)
        prob = counts - discount
        np.maximum(prob, 0.0, out=prob)
        prob /= total[context]
        backoff = gamma[context]
        backoff *= lower
        prob += backoff
        return _Level(keys, counts, suffix, context, words, offsets, gamma, prob, lower)

    # ------------------------------------------------------------------ lookups and scoring

    def _find(self, k: int, context: np.ndarray, words: np.ndarray) -> np.ndarray:
        """Row of (context, word) in order k's table, -1 where absent or where context is -1."""
        keys = self.levels[k - 1].keys
        wanted = context * self.base + words
        row = np.minimum(_search(keys, wanted), len(keys) - 1)
        return np.where((context >= 0) & (keys[row] == wanted), row, -1)

    def _ranks(self, seq: np.ndarray, starts: np.ndarray) -> list[np.ndarray]:
        """For every position of a flat BOS-led token sequence, the row of the k-gram ending there
        in order k's table (k = 1..n), -1 where it was never seen or crosses the sentence start."""
        ranks = [seq]
        for k in range(2, self.order + 1):
            ranks.append(self._find(k, _previous(ranks[-1], starts), seq))
        return ranks

    def _log_probs(self, seq: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """log P(token | everything before it in its sentence) per position (0 at the BOS)."""
        ranks = self._ranks(seq, starts)
        logp = np.zeros(len(seq))
        pending = np.ones(len(seq), dtype=bool)
        pending[starts] = False
        for k in range(self.order, 0, -1):
            level = self.levels[k - 1]
            context = np.zeros_like(seq) if k == 1 else _previous(ranks[k - 2], starts)
            hit = pending & (ranks[k - 1] >= 0)
            logp[hit] += np.log(level.prob[ranks[k - 1][hit]])
            backoff = pending & ~hit & (context >= 0)
            logp[backoff] += np.log(level.gamma[context[backoff]])
            pending &= ~hit
        return logp

    def _layout(self, parts: list[Sentences], eos: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Row i of the batch as BOS + parts[0][i] + parts[1][i] + ... (+ EOS), flat.

        Returns the token sequence, each row's start, and per part the positions of its tokens.
        """
        for part in parts:
            if part.n_tokens and (part.ids.min() < 0 or part.ids.max() >= self.vocab_size):
                raise DataError(f"token ids must lie in [0, {self.vocab_size}) of the model's vocabulary")
        lengths = 1 + sum(part.lengths for part in parts) + int(eos)
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        seq = np.full(int(lengths.sum()), self.eos, dtype=np.int64)
        seq[starts] = self.bos
        placed, positions = starts + 1, []
        for part in parts:
            row = part.sentence_index()
            where = placed[row] + np.arange(part.n_tokens) - part.offsets[row]
            seq[where] = part.ids
            positions.append(where)
            placed = placed + part.lengths
        return seq, starts, positions

    def nll(self, data: Sentences) -> np.ndarray:
        """Nats per sentence, the end of sentence included: shape (n,)."""
        seq, starts, _ = self._layout([data], eos=True)
        logp = self._log_probs(seq, starts)
        return -np.add.reduceat(logp, starts) if len(starts) else np.zeros(0)

    def continuation_nll(self, prompts: Sentences, continuations: Sentences) -> np.ndarray:
        """Nats of each continuation's tokens after BOS + its prompt (no end of sentence): (n,)."""
        if len(prompts) != len(continuations):
            raise DataError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        seq, starts, (_, where) = self._layout([prompts, continuations], eos=False)
        logp = self._log_probs(seq, starts)
        return -np.bincount(continuations.sentence_index(), weights=logp[where], minlength=len(continuations))

    def _contexts_after(self, prompts: Sentences) -> list[np.ndarray]:
        """Each prompt's context rank per order (order 1: the empty context), after BOS + prompt."""
        seq, starts, _ = self._layout([prompts], eos=False)
        last = starts + prompts.lengths
        ranks = self._ranks(seq, starts)
        return [np.zeros(len(prompts), dtype=np.int64)] + [ranks[k][last] for k in range(self.order - 1)]

    def _advance(self, contexts: list[np.ndarray], words: np.ndarray) -> list[np.ndarray]:
        """The context ranks after appending words: order k's context is the (k-1)-gram ending here."""
        new = [contexts[0], words]
        for k in range(2, self.order):
            new.append(self._find(k, contexts[k - 1], words))
        return new[: self.order]

    # ------------------------------------------------------------------ sampling

    def sample(self, n: int, rng: np.random.Generator, *, temperature: float = 1.0, top_p: float = 1.0) -> Sentences:
        """n sentences, all drawn in lockstep; each ends at EOS (not included) or at max_length.

        Exact for every temperature T and top_p. At T = 1 without top-p, interpolated Kneser-Ney
        is a mixture: P_k(w | h) = (1 - gamma_k) D_k(w | h) + gamma_k P_{k-1}(w | h'), with
        D_k(w | h) = max(c_k(h w) - D_k, 0) / (c_k(h) - D_k #types), a distribution over the
        context's continuations. So each token stays at the highest order with probability
        1 - gamma_n or backs off one order, and so on down to the uniform P_0, then draws from that
        order's D_k: two uniforms per token, no rejection, and the new contexts below the chosen
        order follow from the drawn row's suffixes without a lookup.

        Otherwise, let C_k be the words seen after the context's last k-1 words (C_1 = every
        word; C_{k+1} is inside C_k). A word w in C_k but not in C_{k+1} has
        P(w | h) = Gamma_k p_k(w). Rejection sampling from P^(1/T): pick an order k with
        probability proportional to Gamma_k^(1/T) sum_{C_k} p_k^(1/T), draw w from C_k
        proportionally to p_k(w)^(1/T), keep it unless w is in C_{k+1}. A kept draw has probability
        proportional to (Gamma_k p_k(w))^(1/T) = P(w | h)^(1/T); each order's weight is at most the
        normaliser, so a token costs at most `order` draws on average.

        Top-p (applied to the tempered distribution, as in Hugging Face): a draw w is also kept only
        if the tempered mass of the words strictly more probable than w is below top_p, which is
        exactly "w is in the smallest set of most probable words whose mass reaches top_p" (words
        tied at the border are all kept). That mass is summed exactly per order from the context's
        continuations sorted by probability, with running sums; no distribution over the
        vocabulary is ever built, and at least a top_p share of the draws is kept.
        """
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        start = self._contexts_after(Sentences.from_lengths(np.zeros(0, np.int32), np.zeros(n, np.int64)))
        if temperature == 1 and top_p == 1:
            step = functools.partial(self._draw_mixture, rng=rng, mixture=self._mixture())
        else:
            tempered = self._tempered(temperature, top_p < 1)

            def step(contexts):
                words = self._draw(contexts, rng, temperature, top_p, tempered)
                return words, self._advance(contexts, words)

        return self._generate(start, self.family.params.max_length, step)

    def _generate(self, contexts: list[np.ndarray], max_new: int, step, scored: bool = False):
        """Extend every row in lockstep, one numpy step per position, until EOS (not kept) or max_new.

        step(contexts) -> (next words, the contexts after them[, each word's log-probability if
        ``scored``]). Returns the Sentences, and with ``scored`` the log-probabilities aligned with
        their ids.
        """
        n, max_new = len(contexts[0]), max(max_new, 0)
        tokens = np.zeros((n, max_new), dtype=np.int32)
        scores = np.zeros((n, max_new)) if scored else None
        lengths = np.full(n, max_new, dtype=np.int64)
        active = np.arange(n)
        for position in range(max_new):
            if not len(active):
                break
            words, after, *score = step(contexts)
            tokens[active, position] = words
            if scored:
                scores[active, position] = score[0]
            ended = words == self.eos
            lengths[active[ended]] = position
            going = ~ended
            active = active[going]
            contexts = [c[going] for c in after]
        kept = np.arange(max_new) < lengths[:, None]
        out = Sentences.from_lengths(tokens[kept], lengths)
        return (out, scores[kept]) if scored else out

    def _mixture(self) -> list[np.ndarray]:
        """Per order, the running sum of D_k over the rows, each context's part normalised to 1."""
        if self._mixture_cache is None:
            self._mixture_cache = []
            for level, discount in zip(self.levels, self.discounts):
                kept = np.maximum(level.counts - discount, 0.0)
                total = np.bincount(level.context, weights=kept, minlength=len(level.offsets) - 1)
                self._mixture_cache.append(_running_sum(kept / np.where(total > 0, total, 1.0)[level.context]))
        return self._mixture_cache

    def _draw_mixture(self, contexts, rng, mixture) -> tuple[np.ndarray, list[np.ndarray]]:
        """One next word per row at T = 1 (see :meth:`sample`), and the contexts after it."""
        rows, n = len(contexts[0]), self.order
        u = rng.random((rows, 2))
        # the order each row draws from, from the top: stay with probability 1 - gamma_k
        chosen = np.full(rows, -1)  # level index; -1: the uniform P_0
        reached, stay = np.ones(rows), np.zeros(rows)
        for i in range(n - 1, -1, -1):
            c = contexts[i]
            gamma = self.levels[i].gamma[np.maximum(c, 0)]
            gamma[c < 0] = 1.0
            stay += reached * (1.0 - gamma)
            reached *= gamma
            chosen[(chosen < 0) & (u[:, 0] < stay)] = i
        words = (u[:, 1] * (self.vocab_size + 1)).astype(np.int64)  # P_0: the words and EOS
        words[words >= self.vocab_size] = self.eos
        after = ([contexts[0], words] + [np.full(rows, -1) for _ in range(n - 2)])[:n]
        for i in range(n):
            at = np.flatnonzero(chosen == i)
            if not len(at):
                continue
            level, cum = self.levels[i], mixture[i]
            c = contexts[i][at]
            s, e = level.offsets[c], level.offsets[c + 1]
            target = cum[s] + u[at, 1] * (cum[e] - cum[s])
            row = np.clip(_search(cum, target, side="right") - 1, s, e - 1)
            words[at] = level.words[row]
            # the k-grams ending at the new word for k <= i + 1 are this row and its suffixes
            for k in range(i + 1, 1, -1):
                if k < n:
                    after[k][at] = row
                if k > 2:
                    row = self.levels[k - 1].suffix[row]
        # above the chosen order, look the k-gram up (only where the (k-1)-gram was seen)
        for k in range(2, n):
            at = np.flatnonzero((chosen < k - 1) & (after[k - 1] >= 0))
            after[k][at] = self._find(k, contexts[k - 1][at], words[at])
        return words, after

    def _tempered(self, temperature: float, sorted_views: bool) -> list[_Tempered]:
        key = (temperature, sorted_views)
        if key not in self._tempered_cache:
            self._tempered_cache.clear()  # a sampler uses one setting at a time: keep the last only
            self._tempered_cache[key] = [self._temper(i, temperature, sorted_views) for i in range(self.order)]
        return self._tempered_cache[key]

    def _temper(self, i: int, temperature: float, sorted_views: bool) -> _Tempered:
        level = self.levels[i]
        n_contexts = len(level.offsets) - 1
        q, lower_q = level.prob ** (1.0 / temperature), level.lower ** (1.0 / temperature)
        mass = np.bincount(level.context, weights=q, minlength=n_contexts)
        lower_mass = np.bincount(level.context, weights=lower_q, minlength=n_contexts)
        if (mass[np.diff(level.offsets) > 0] == 0).any():
            raise ValueError(f"temperature {temperature} is too low: probabilities underflow to 0")
        # normalise per context before the running sum, so a draw inside a context is accurate
        # to ~1e-16 of that context's mass rather than of the whole table's
        norm = np.where(mass > 0, mass, 1.0)[level.context]
        parts = {"mass": mass, "lower_mass": lower_mass, "cumulative": _running_sum(q / norm)}
        if sorted_views:
            views = self._sorted()[i]
            lower_norm = np.where(lower_mass > 0, lower_mass, 1.0)[level.context]
            parts["by_prob_cumulative"] = _running_sum((q / norm)[views.by_prob])
            parts["by_lower_cumulative"] = _running_sum((lower_q / lower_norm)[views.by_lower])
        return _Tempered(**parts)

    def _sorted(self) -> list[_Sorted]:
        if self._sort_cache is None:
            self._sort_cache = []
            for level in self.levels:
                by_prob = np.lexsort((-level.prob, level.context))  # stable: ties keep word order
                by_lower = np.lexsort((-level.lower, level.context))
                steps = int(np.diff(level.offsets).max(initial=0)).bit_length()
                self._sort_cache.append(_Sorted(by_prob, level.prob[by_prob], by_lower, level.lower[by_lower], steps))
        return self._sort_cache

    def _draw(self, contexts, rng, temperature, top_p, tempered) -> np.ndarray:
        """One next word per row (see :meth:`sample`)."""
        rows, n = len(contexts[0]), self.order
        # per row and order (columns k-1): the context's rows, gamma, tempered masses
        start, end = np.zeros((rows, n), np.int64), np.zeros((rows, n), np.int64)
        gamma, mass, lower_mass = np.ones((rows, n)), np.zeros((rows, n)), np.zeros((rows, n))
        for i, (level, temp) in enumerate(zip(self.levels, tempered)):
            c = contexts[i]
            valid = c >= 0
            c = np.where(valid, c, 0)
            start[:, i] = np.where(valid, level.offsets[c], 0)
            end[:, i] = np.where(valid, level.offsets[c + 1], 0)
            gamma[:, i] = np.where(valid, level.gamma[c], 1.0)
            mass[:, i] = np.where(valid, temp.mass[c], 0.0)
            lower_mass[:, i] = np.where(valid, temp.lower_mass[c], 0.0)
        # Gamma_k: product of the gammas of the orders above k (computed top down, the same
        # product every comparison below uses)
        backoff = np.ones((rows, n))
        for i in range(n - 2, -1, -1):
            backoff[:, i] = backoff[:, i + 1] * gamma[:, i + 1]
        tempered_backoff = backoff ** (1.0 / temperature)
        weight = tempered_backoff * mass
        cumulative_weight = np.cumsum(weight, axis=1)
        # normaliser of P^(1/T): each order's words minus those continued one order up
        normaliser = weight.sum(axis=1) - (tempered_backoff[:, :-1] * lower_mass[:, 1:]).sum(axis=1)

        words = np.empty(rows, dtype=np.int64)
        pending = np.arange(rows)
        while len(pending):
            u = rng.random((len(pending), 2))
            chosen = (u[:, :1] * cumulative_weight[pending, -1:] >= cumulative_weight[pending]).sum(axis=1)
            chosen = np.minimum(chosen, n - 1)
            drawn = np.empty(len(pending), dtype=np.int64)
            prob = np.empty(len(pending))
            keep = np.ones(len(pending), dtype=bool)
            for i in range(n):
                at = np.flatnonzero(chosen == i)
                if not len(at):
                    continue
                level, cum = self.levels[i], tempered[i].cumulative
                r = pending[at]
                s, e = start[r, i], end[r, i]
                target = cum[s] + u[at, 1] * (cum[e] - cum[s])
                row = np.clip(_search(cum, target, side="right") - 1, s, e - 1)
                drawn[at] = level.words[row]
                prob[at] = backoff[r, i] * level.prob[row]
                if i + 1 < n:  # continued one order up: its probability is not Gamma_k p_k
                    keep[at] = self._find(i + 2, contexts[i + 1][r], level.words[row]) < 0
            if top_p < 1:
                at = np.flatnonzero(keep)
                r = pending[at]
                above = self._mass_above(
                    prob[at], start[r], end[r], backoff[r], tempered_backoff[r], mass[r], lower_mass[r], tempered
                )
                keep[at] = above < top_p * normaliser[r]
            words[pending[keep]] = drawn[keep]
            pending = pending[~keep]
        return words

    def _mass_above(self, t, start, end, backoff, tempered_backoff, mass, lower_mass, tempered) -> np.ndarray:
        """Tempered mass of the words more probable than t, per row, summed per order as in the
        normaliser: order k's continuations above t, minus those continued one order up (their
        order-k value was counted at order k)."""
        above = np.zeros(len(t))
        for i, (views, temp) in enumerate(zip(self._sorted(), tempered)):
            s, e = start[:, i], end[:, i]
            stop = _first_not_above(views.prob, s, e, backoff[:, i], t, views.steps)
            cum = temp.by_prob_cumulative
            above += tempered_backoff[:, i] * (cum[stop] - cum[s]) * mass[:, i]
            if i > 0:
                stop = _first_not_above(views.lower, s, e, backoff[:, i - 1], t, views.steps)
                cum = temp.by_lower_cumulative
                above -= tempered_backoff[:, i - 1] * (cum[stop] - cum[s]) * lower_mass[:, i]
        return above

    # ------------------------------------------------------------------ greedy decoding

    def greedy(self, prompts: Sentences, max_new: int) -> Sentences:
        """The most probable next words after BOS + each prompt, until EOS (not included) or max_new.

        max_w P(w | h) = max_k Gamma_k max_{C_k} p_k: every row of order k has Gamma_k p_k(w) <=
        P(w | h), with equality at w's highest order. Ties go to the higher order, then to the
        lower word id.
        """
        return self._generate(self._contexts_after(prompts), max_new, self._most_probable)

    def answer(self, prompts: Sentences, max_new: int, closing: int) -> tuple[Sentences, np.ndarray]:
        """Greedy answers scored while they are decoded: each word's log-probability is summed as
        ``nll`` sums it (the backoff weights above the word's highest order, then its probability
        there), so the prompts are not looked up a second time."""
        decoded, logp = self._generate(self._contexts_after(prompts), max_new,
                                       functools.partial(self._most_probable, scored=True), scored=True)
        keep = ~final_mask(decoded, closing)
        answers = drop_final(decoded, closing)
        return answers, -np.bincount(decoded.sentence_index()[keep], weights=logp[keep], minlength=len(decoded))

    def _most_probable(self, contexts: list[np.ndarray], scored: bool = False):
        rows = len(contexts[0])
        best_value, best_word = np.full(rows, -1.0), np.zeros(rows, dtype=np.int64)
        backoff = np.ones(rows)
        log_backoff, best_logp = np.zeros(rows), np.zeros(rows)
        for i in range(self.order - 1, -1, -1):  # from the highest order, so ties go to it
            level, top_rows = self.levels[i], self._top_rows()[i]
            valid = contexts[i] >= 0
            c = np.where(valid, contexts[i], 0)
            top = top_rows[c]
            found = valid & (top >= 0)
            value = np.where(found, backoff * level.prob[top], -1.0)
            better = value > best_value
            best_value = np.where(better, value, best_value)
            best_word = np.where(better, level.words[top], best_word)
            if scored:
                with np.errstate(divide="ignore"):
                    best_logp = np.where(better, log_backoff + np.log(np.where(found, level.prob[top], 1.0)), best_logp)
                    log_backoff = log_backoff + np.where(valid, np.log(level.gamma[c]), 0.0)
            backoff = backoff * np.where(valid, level.gamma[c], 1.0)
        words, after = best_word, self._advance(contexts, best_word)
        return (words, after, best_logp) if scored else (words, after)

    def _top_rows(self) -> list[np.ndarray]:
        """Per order and context, the row of its most probable continuation (the lowest word id
        among ties; -1 for a context without rows): one pass over the rows, no sort."""
        if self._top_cache is None:
            self._top_cache = []
            for level in self.levels:
                n_contexts = len(level.offsets) - 1
                nonempty = np.flatnonzero(np.diff(level.offsets) > 0)
                best = np.zeros(n_contexts)
                best[nonempty] = np.maximum.reduceat(level.prob, level.offsets[nonempty])
                # rows are sorted by word within a context: the first maximal row has the lowest id
                maximal = np.flatnonzero(level.prob == best[level.context])
                first = np.ones(len(maximal), dtype=bool)
                first[1:] = level.context[maximal[1:]] != level.context[maximal[:-1]]
                top = np.full(n_contexts, -1, dtype=np.int64)
                top[level.context[maximal[first]]] = maximal[first]
                self._top_cache.append(top)
        return self._top_cache

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict[str, np.ndarray]:
        state = {"vocab_size": np.array([self.vocab_size]), "discounts": self.discounts}
        for k, level in enumerate(self.levels, start=1):
            state |= {f"keys_{k}": level.keys, f"counts_{k}": level.counts, f"suffix_{k}": level.suffix}
        return state


@register_family("ngram")
class NgramFamily(Family):
    """Interpolated Kneser-Ney word n-grams: the fast text track (fit is counting; no randomness)."""

    modality = TEXT
    Params = NgramParams
    random_fit = False

    def __init__(self, info: DataInfo, params: NgramParams | dict | None = None) -> None:
        super().__init__(info, params)
        if info.vocab is None:
            raise DataError("the ngram family needs the corpus vocabulary (DataInfo.vocab)")

    def fit(self, data: Sentences, rng: np.random.Generator, init: Model | None = None) -> NgramModel:
        """Count and smooth. Deterministic: rng is unused, and a count-based estimator has nothing
        to warm-start (each generation is fitted to its own data only): ``init`` is ignored."""
        if not len(data):
            raise DataError("the ngram family cannot fit zero sentences")
        params, vocab_size = self.params, len(self.info.vocab)
        if data.n_tokens and (data.ids.min() < 0 or data.ids.max() >= vocab_size):
            raise DataError(f"token ids must lie in [0, {vocab_size}) of the vocabulary")
        keys, counts, suffixes = _count(data, params.order, vocab_size)
        if params.discount is not None:
            discounts = np.full(params.order, params.discount)
        else:
            discounts = np.array([_estimate_discount(c) for c in counts])
        return NgramModel(self, keys, counts, suffixes, discounts)

    def from_state(self, state: dict[str, np.ndarray]) -> NgramModel:
        order = len(state["discounts"])
        if int(state["vocab_size"][0]) != len(self.info.vocab) or order != self.params.order:
            raise DataError(
                f"saved n-gram model has order {order} over {int(state['vocab_size'][0])} words; "
                f"this family has order {self.params.order} over {len(self.info.vocab)}"
            )
        tables = [[state[f"{name}_{k}"] for k in range(1, order + 1)] for name in ("keys", "counts", "suffix")]
        return NgramModel(self, *tables, state["discounts"])


def _estimate_discount(counts: np.ndarray) -> float:
    n1, n2 = np.count_nonzero(counts == 1), np.count_nonzero(counts == 2)
    return max(n1 / (n1 + 2 * n2), MIN_DISCOUNT) if n1 else MIN_DISCOUNT


def _count(data: Sentences, order: int, vocab_size: int) -> tuple[list, list, list]:
    """Kneser-Ney tables of every order: (keys, counts, suffix rows) per order, low to high.

    Each k-gram type is ranked by one sort of the integer keys of all positions; the rank of the
    (k-1)-gram ending at each position keys order k, so no key ever needs more than
    rank * B + word.
    """
    bos, eos, base = vocab_size, vocab_size + 1, vocab_size + 2
    lengths = data.lengths + 2
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    # int32 halves the memory the random accesses below touch
    seq = np.full(int(lengths.sum()), eos, dtype=np.int32)
    seq[starts] = bos
    words = np.ones(len(seq), dtype=bool)
    words[starts] = words[starts + lengths - 1] = False
    seq[words] = data.ids
    # key i is of the k-gram ending at position i + 1; none ends at a BOS (it would cross a
    # sentence start), and none fits where the (k-1)-gram before has rank -1 (its key is negative)
    before_bos = starts[1:] - 1

    keys, counts, suffixes = [np.arange(base, dtype=np.int64)], [], [np.zeros(base, dtype=np.int64)]
    ranks = seq  # row of the (k-1)-gram ending at each position (-1: none fits); for k = 2, the token
    if order == 1:
        raw = np.bincount(seq, minlength=base)
        raw[bos] = 0
    for k in range(2, order + 1):
        key = ranks[:-1].astype(np.int64)
        key *= base
        key += seq[1:]
        key[before_bos] = -1
        sorted_key, packed, bits = _sort_with_positions(key)
        new_type = np.empty(len(sorted_key), dtype=bool)
        new_type[:1] = True
        np.not_equal(sorted_key[1:], sorted_key[:-1], out=new_type[1:])
        first = np.flatnonzero(new_type)
        keys.append(sorted_key[first])
        # the (k-1)-gram ending at the same position is the suffix; one count per distinct k-gram
        # is the continuation count of that suffix
        end = np.take(packed, first)
        end &= (1 << bits) - 1
        end += 1
        suffix = np.take(ranks, end).astype(np.int64)
        suffixes.append(suffix)
        continuation = np.bincount(suffix, minlength=len(keys[-2]))
        if k > 2:  # (k-1)-grams that start with BOS have no word before them: raw counts
            fits = lengths > k - 2
            continuation += np.bincount(ranks[starts[fits] + k - 2], minlength=len(keys[-2]))
        counts.append(continuation)
        raw = np.diff(np.append(first, len(sorted_key)))
        if k < order:  # the next order's keys need each position's k-gram row
            ranks = np.empty(len(seq), dtype=np.int32)
            for j in range(k - 1):  # no k-gram ends within the first k-1 positions of a sentence
                ranks[starts[lengths > j] + j] = -1
            rank = np.cumsum(new_type, dtype=np.int32)
            rank -= 1
            end = packed & ((1 << bits) - 1)
            end += 1
            ranks[end] = rank
    counts.append(raw)  # the highest order keeps raw counts
    return keys, counts, suffixes


def _sort_with_positions(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The non-negative keys sorted, and the same order packed with the index each came from:
    (sorted keys, packed, bits), packed = (key << bits) | index, so index = packed & (2**bits - 1).
    Overwrites key.

    One plain sort of packed integers is several times faster than an argsort. Keys too large
    to pack are first replaced by their dense ranks (the same order).
    """
    bits = max(int(len(key) - 1).bit_length(), 1)
    values = None
    if int(key.max(initial=0)) >= 1 << (PACKED_BITS - bits):
        values, key = np.unique(key, return_inverse=True)
        key = key - np.searchsorted(values, 0)  # negative keys stay negative
        values = values[values >= 0]
    packed = np.left_shift(key, bits, out=key)  # the caller's keys are a temporary
    packed |= np.arange(len(key), dtype=np.int64)  # a negative key stays negative
    packed.sort()
    packed = packed[np.searchsorted(packed, 0) :]
    sorted_key = packed >> bits
    return (sorted_key if values is None else values[sorted_key]), packed, bits
