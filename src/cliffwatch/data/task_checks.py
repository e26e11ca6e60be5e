"""The two checks of every task item: surface (form) and deep (substance).

A task item is a prompt and an answer, both word tokens. Its checks read only tokens, so they judge
a reference answer, a model's greedy answer to the prompt, and a whole synthetic sentence alike.

- reasoning: a word problem ("problem : ann has 7 pens . they buy 5 more . ... how many pens now ?
  steps :") answered with worked steps ("7 + 5 = 12 ; 12 - 3 = 9 ; answer : 9"). Surface: every step
  is "number op number = number" and the last is "answer : number". Deep: surface, every step's
  arithmetic is right, and the final number is the problem's answer (solved from its own text).
- code: a standard-library function, its signature as the prompt ("code : def f ( x ) : ¶") and
  its body as the answer, in the corpus's lowercase word tokens with ¶ / » / « for newline, indent
  and dedent (see detokenize_code).
  Surface: the function parses (``ast``). Deep: surface, pyflakes finds no undefined name (code_names.py
  gives pyflakes' answer in one quick pass for most functions), and every
  parameter is read in the body (a function that ignores its inputs computes nothing from them).
- facts: "fact : the capital of france is" answered "paris". Surface: an answer of the right type
  (any answer of that relation: a capital for a capital). Deep: the right one.

Every item opens with its task's mark ("problem :", "code :", "fact :"), so a whole synthetic
sentence can be told apart from running text, which passes both checks: the checks judge task
items, not prose.
"""

from __future__ import annotations

import ast
import functools
import re
import warnings
from dataclasses import dataclass

from cliffwatch.data import code_names

TASKS = ("reasoning", "code", "facts")
REASONING_MARK = ("problem", ":")  # first tokens of every reasoning item
REASONING_SPLIT = ("steps", ":")  # the prompt ends with these; the answer follows
CODE_MARK = ("code", ":")  # first tokens of every code item
FACT_MARK = ("fact", ":")  # first tokens of every fact item
# Newline, indent and dedent: single symbols, so they survive the corpus tokenizer (a neural model's
# text is read back through it) as the rest of the code does: lowercase words and single marks.
NEWLINE, INDENT, DEDENT = "¶", "»", "«"
NAME_JOINER = "-"  # a Python name's underscores, so the name stays one corpus token ("is-subnet-of")
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


@dataclass(frozen=True)
class Verdict:
    """The two checks of one answer and, where one failed, why (the first failure only)."""

    surface: bool
    deep: bool
    failed: str = ""  # "" when both pass; else "surface: ..." or "deep: ..."


PASS = Verdict(True, True)


def _fail_surface(why: str) -> Verdict:
    return Verdict(False, False, f"surface: {why}")


def _fail_deep(why: str) -> Verdict:
    return Verdict(True, False, f"deep: {why}")


# ------------------------------------------------------------------------------------------ reasoning

# Clauses of a word problem after the opening "NAME has N OBJECTS ." and what each does to the count.
CLAUSES = {
    ("they", "buy", None, "more"): "+",
    ("they", "give", "away", None): "-",
    ("they", "get", None, "times", "as", "many"): "*",
}


def solve_problem(problem: list[str]) -> int | None:
    """The answer of a word problem (tokens from "problem :" up to "?"), or None if it is not one:
    the opening clause, then one or more clauses of :data:`CLAUSES`, then "how many OBJECTS now ?"."""
    if tuple(problem[:2]) != REASONING_MARK:
        return None
    clauses = _split(problem[2:], ".")
    if len(clauses) < 2:
        return None
    opening, *ops, question = clauses
    if len(opening) != 4 or opening[1] != "has" or not opening[2].isdigit():
        return None
    things = opening[3]
    if question != ["how", "many", things, "now", "?"] or not ops:
        return None
    total = int(opening[2])
    for clause in ops:
        step = _clause_op(clause)
        if step is None:
            return None
        total = OPS[step[0]](total, step[1])
    return total


def _clause_op(clause: list[str]) -> tuple[str, int] | None:
    for pattern, op in CLAUSES.items():
        if len(clause) == len(pattern) and all(p is None or p == w for p, w in zip(pattern, clause)):
            numbers = [w for p, w in zip(pattern, clause) if p is None]
            if len(numbers) == 1 and numbers[0].isdigit():
                return op, int(numbers[0])
    return None


def _split(tokens: list[str], mark: str) -> list[list[str]]:
    """Tokens split after each ``mark`` (kept out); the part after the last mark is the last part."""
    parts, current = [], []
    for token in tokens:
        if token == mark:
            parts.append(current)
            current = []
        else:
            current.append(token)
    if current:
        parts.append(current)
    return parts


def check_reasoning(problem: list[str], answer: list[str]) -> Verdict:
    steps = [s for s in _split(answer, ";")]
    if not steps or steps[-1][:2] != ["answer", ":"] or len(steps[-1]) != 3 or not steps[-1][2].isdigit():
        return _fail_surface("no final 'answer : N'")
    if len(steps) < 2:
        return _fail_surface("no worked steps")
    for step in steps[:-1]:
        if len(step) != 5 or step[1] not in OPS or step[3] != "=" or not all(step[i].isdigit() for i in (0, 2, 4)):
            return _fail_surface(f"malformed step '{' '.join(step)}'")
    for step in steps[:-1]:
        if OPS[step[1]](int(step[0]), int(step[2])) != int(step[4]):
            return _fail_deep(f"wrong step '{' '.join(step)}'")
    truth = solve_problem(problem)
    if truth is None:
        return _fail_deep("the problem has no answer (not a well-formed problem)")
    if int(steps[-1][2]) != truth:
        return _fail_deep(f"answer {steps[-1][2]}, should be {truth}")
    if int(steps[-2][4]) != truth:
        return _fail_deep("the steps do not reach the answer")
    return PASS


# ----------------------------------------------------------------------------------------------- code


def detokenize_code(tokens: list[str]) -> str | None:
    """Python source from code tokens (None if the indentation goes below the function): a word
    token with hyphens is a name ("is-subnet-of" -> is_subnet_of); tokens are joined with a space
    only between two word tokens, which gives the same Python tokens back (the corpus tokenizer
    splits "==" into "= =", "'a'" into "' a '")."""
    lines, line, depth = [], [], 0
    for token in tokens:
        if token == NEWLINE:
            lines.append("    " * depth + _join(line))
            line = []
        elif token == INDENT:
            depth += 1
        elif token == DEDENT:
            depth -= 1
            if depth < 0:
                return None
        else:
            line.append(token)
    if line:
        lines.append("    " * depth + _join(line))
    return "\n".join(lines) + "\n"


def _join(tokens: list[str]) -> str:
    out = []
    for token in tokens:
        if token[:1].isalpha() and NAME_JOINER in token:
            token = token.replace(NAME_JOINER, "_")
        if out and out[-1][-1:].isalnum() and token[:1].isalnum():
            out.append(" ")
        out.append(token)
    return "".join(out)


def check_code(signature: list[str], body: list[str]) -> Verdict:
    """``signature``: the prompt after "code :" ("def f ( x ) : ¶"); ``body``: the answer."""
    source = detokenize_code(signature + body)
    if source is None:
        return _fail_surface("dedent below the function")
    try:
        with warnings.catch_warnings():  # a model's "1if x" is a SyntaxWarning: noise on the user's terminal
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: a NUL byte
        return _fail_surface("does not parse")
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return _fail_surface("not one function definition")
    function = tree.body[0]
    try:
        undefined, read = names_of(tree)
    except RecursionError:  # both walks recurse once per level: hundreds of chained operators
        return _fail_deep("nested too deeply to check")
    if undefined:
        return _fail_deep(f"undefined name {undefined[0]!r}")
    unused = sorted(set(_parameters(function.args)) - read)
    if unused:
        return _fail_deep(f"parameter {unused[0]!r} is never used")
    return PASS


def names_of(tree: ast.Module) -> tuple[list[str], set[str]]:
    """(the names pyflakes reports as undefined, UndefinedName and UndefinedLocal, in its order;
    builtins count as defined. Every name the code reads.) From one quick pass where that mirrors
    pyflakes (code_names.py: most functions), else from pyflakes and one walk."""
    quick = code_names.scan(tree)
    if quick is not None:
        return quick
    names = [n for n in ast.walk(tree) if isinstance(n, ast.Name)]
    return (pyflakes_undefined_names(tree, {n.id for n in names}),
            {n.id for n in names if isinstance(n.ctx, ast.Load)})


def undefined_names(tree: ast.Module) -> list[str]:
    """:func:`names_of`'s undefined names."""
    return names_of(tree)[0]


def pyflakes_undefined_names(tree: ast.Module, named: set[str] | None = None) -> list[str]:
    """:func:`undefined_names` from pyflakes, for any module; ``named``: the names the tree's
    ``ast.Name`` nodes hold, where the caller has them."""
    from pyflakes import messages

    # pyflakes binds every builtin in each checker it makes (most of its time on a short function);
    # binding only the builtins the code names reports the same undefined names
    if named is None:
        named = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    found = _checker()(tree, builtins=named & _checker().builtins_of_python).messages
    # an UndefinedLocal of a builtin carries its name alone, not in a tuple
    return [m.message_args if isinstance(m.message_args, str) else m.message_args[0]
            for m in found if isinstance(m, (messages.UndefinedName, messages.UndefinedLocal))]


@functools.lru_cache(maxsize=None)
def _checker() -> type:
    from pyflakes.checker import Checker

    class NamedBuiltins(Checker):
        builtIns: set[str] = set()
        builtins_of_python = frozenset(Checker.builtIns)

        # pyflakes asks on every node whether a __future__ import may still come (a scan of its
        # scope stack, a quarter of its time here); the answer only decides LateFutureImport, a
        # message these checks do not read, so it is always "no" (pyflakes==3.2.0, pinned)
        @property
        def futuresAllowed(self) -> bool:
            return False

        @futuresAllowed.setter
        def futuresAllowed(self, value: bool) -> None:
            pass

    return NamedBuiltins


def _parameters(args: ast.arguments) -> list[str]:
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return names


# ---------------------------------------------------------------------------------------------- facts


def check_fact(answer: str, reference: str, answers_of_kind: frozenset[str]) -> Verdict:
    if not answer:
        return _fail_surface("no answer")
    if answer not in answers_of_kind:
        return _fail_surface(f"'{answer}' is not an answer of this kind")
    if answer != reference:
        return _fail_deep(f"'{answer}', should be '{reference}'")
    return PASS


def check_answer(task: str, prompt: list[str], answer: list[str], reference: list[str],
                 answers_of_kind: frozenset[str] = frozenset()) -> Verdict:
    """Both checks of a model's ``answer`` to a task item's ``prompt`` (``reference``: the item's answer)."""
    if task == "reasoning":
        return check_reasoning(prompt[: len(prompt) - len(REASONING_SPLIT)], answer)
    if task == "code":
        return check_code(prompt[len(CODE_MARK):], answer)
    return check_fact(" ".join(answer), " ".join(reference), answers_of_kind)


def item_task(tokens: list[str]) -> str | None:
    """Which task a whole sentence is an item of, by its opening tokens (None: running text)."""
    if tuple(tokens[: len(REASONING_MARK)]) == REASONING_MARK:
        return "reasoning"
    if tuple(tokens[: len(CODE_MARK)]) == CODE_MARK:
        return "code"
    if tuple(tokens[: len(FACT_MARK)]) == FACT_MARK:
        return "facts"
    return None


def check_sentence(tokens: list[str], facts: FactIndex | None) -> Verdict:
    """Both checks of a whole sentence (a synthetic sample): an item is known by its opening mark and
    split into prompt and answer where its form says; a sentence without a mark is running text and
    passes (the checks judge task items, not prose)."""
    task = item_task(tokens)
    if task == "reasoning":
        cut = _find(tokens, REASONING_SPLIT)
        if cut is None:
            return _fail_surface("no 'steps :'")
        if tokens[-1:] != ["."]:
            return _fail_surface("no closing '.'")
        return check_reasoning(tokens[:cut], tokens[cut + len(REASONING_SPLIT):-1])
    if task == "code":
        return check_code(tokens[len(CODE_MARK):], [])
    if task == "facts" and facts is not None:
        return facts.check(tokens[len(FACT_MARK):])
    return PASS


def _find(tokens: list[str], part: tuple[str, ...]) -> int | None:
    for i in range(len(tokens) - len(part) + 1):
        if tuple(tokens[i : i + len(part)]) == part:
            return i
    return None


class FactIndex:
    """Fact templates as patterns over a sentence, with the names each slot may hold. A fact item
    ("fact : the capital of X is Y .") has the right form when it fits a template with X a subject
    and Y an answer of that relation (right types), and the right substance when (X, Y) is a fact."""

    def __init__(self, templates: dict[str, tuple[str, ...]], facts: list[tuple[str, str, str]]) -> None:
        self.subjects: dict[str, set[str]] = {}
        self.answers: dict[str, set[str]] = {}
        self.true = set(facts)
        for relation, subject, answer in facts:
            self.subjects.setdefault(relation, set()).add(subject)
            self.answers.setdefault(relation, set()).add(answer)
        self.patterns = []
        for relation in sorted(set(templates) & set(self.subjects)):
            for text in templates[relation]:
                parts = re.split(r"(\{[sa]\})", text)
                regex = "".join(f"(?P<{p[1]}>.+?)" if p in ("{s}", "{a}") else re.escape(p) for p in parts)
                self.patterns.append((relation, re.compile(f"^{regex}$")))

    def check(self, tokens: list[str]) -> Verdict:
        """Both checks of a fact item's words after "fact :"."""
        sentence = " ".join(tokens)
        readings = [(r, m["s"], m["a"]) for r, p in self.patterns if (m := p.match(sentence))]
        typed = [(r, s, a) for r, s, a in readings if s in self.subjects[r] and a in self.answers[r]]
        if not typed:
            return _fail_surface("fits no fact template with a subject and an answer of the right type")
        if any(reading in self.true for reading in typed):
            return PASS
        r, s, a = typed[0]
        return _fail_deep(f"false fact ({r}: {s} -> {a})")
