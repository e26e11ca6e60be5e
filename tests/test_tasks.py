"""The tasks track: items and their two checks, task files and bad input, task probes and filters."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import invoke, run_lineage
from cliffwatch.core.errors import DataError
from cliffwatch.data.task_checks import FactIndex, check_answer, check_code, check_reasoning, check_sentence
from cliffwatch.data.tasks import code_items, fact_items, read_task_file, reasoning_items
from cliffwatch.data.facts import TEMPLATES
from cliffwatch.data.text import tokenize
from cliffwatch.probes.task_common import expected_calibration_error

PROBLEM = tokenize("problem : ann has 7 pens . they buy 5 more . they give away 3 . how many pens now ?")


def words(text: str) -> list[str]:
    """Space-separated tokens, with <nl> <in> <de> standing for the code markers."""
    from cliffwatch.data.task_checks import DEDENT, INDENT, NEWLINE

    marks = {"<nl>": NEWLINE, "<in>": INDENT, "<de>": DEDENT}
    return [marks.get(w, w) for w in text.split()]


# ------------------------------------------------------------------------------------------- checks


def test_reasoning_checks_tell_form_from_substance():
    right = check_reasoning(PROBLEM, words("7 + 5 = 12 ; 12 - 3 = 9 ; answer : 9"))
    assert right.surface and right.deep and not right.failed
    wrong_sum = check_reasoning(PROBLEM, words("7 + 5 = 13 ; 13 - 3 = 10 ; answer : 10"))
    assert wrong_sum.surface and not wrong_sum.deep and "wrong step" in wrong_sum.failed
    wrong_answer = check_reasoning(PROBLEM, words("7 + 5 = 12 ; 12 + 3 = 15 ; answer : 15"))  # true steps, wrong plan
    assert wrong_answer.surface and not wrong_answer.deep
    for broken in ("7 + 5 = 12 ; 12 - 3 = 9", "7 + = 12 ; answer : 9", "answer : 9", ""):
        verdict = check_reasoning(PROBLEM, words(broken))
        assert not verdict.surface and not verdict.deep and verdict.failed.startswith("surface")


def test_deeply_nested_code_is_a_verdict_or_one_line_not_a_crash(tmp_path):
    """Hundreds of chained operators overflow Python's recursion in ast.unparse, pyflakes and the quick
    pass: a model's answer gets a verdict, a task file one line naming its item."""
    chain = " + ".join(["x"] * 1500)  # ast.parse reads it; the walks over it overflow
    verdict = check_code(words("def f ( x ) : <nl>"), words(f"<in> return {chain} <nl>"))
    assert verdict.surface and not verdict.deep and "too deeply" in verdict.failed
    for terms in (700, 3000):  # unparse overflows first, then ast.parse itself
        path = tmp_path / f"deep{terms}.jsonl"
        path.write_text(json.dumps({"task": "code", "prompt": "def f(x):", "answer": "    return " + "+".join(["x"] * terms)}))
        with pytest.raises(DataError, match=r"deep\d+\.jsonl: item on line 1: the code is nested too deeply"):
            read_task_file(path)


def test_code_checks_are_silent_on_odd_literals(recwarn):
    """ast.parse warns on "1if x" (a model writes such things); the check says nothing on the terminal."""
    assert check_code(words("def f ( x ) : <nl>"), words("<in> return 1if x else 2 <nl>")).deep
    assert not [w for w in recwarn if issubclass(w.category, SyntaxWarning)]


def test_code_checks_tell_form_from_substance():
    signature = words("def f ( x , y ) : <nl>")
    assert check_code(signature, words("<in> return x + y <nl> <de>")).deep
    assert not check_code(signature, words("<in> return x + <nl> <de>")).surface
    assert not check_code(signature, words("<in> return x <nl> <de> <de>")).surface  # dedent below the function
    undefined = check_code(signature, words("<in> return x + z <nl> <de>"))
    assert undefined.surface and not undefined.deep and "'z'" in undefined.failed
    unused = check_code(signature, words("<in> return x <nl> <de>"))
    assert unused.surface and not unused.deep and "'y'" in unused.failed
    assert check_code(signature, words("<in> return len ( x ) + y <nl> <de>")).deep  # builtins are defined
    # names keep their underscores as hyphens, operators split by the corpus tokenizer come back whole
    assert check_code(words("def f ( is-a , b ) : <nl>"), words("<in> return is-a * * 2 = = b <nl> <de>")).deep


def test_fact_checks_and_fact_sentences():
    kinds = frozenset({"paris", "lyon"})
    assert check_answer("facts", [], ["paris"], ["paris"], kinds).deep
    lyon = check_answer("facts", [], ["lyon"], ["paris"], kinds)
    assert lyon.surface and not lyon.deep
    assert not check_answer("facts", [], ["europe"], ["paris"], kinds).surface
    index = FactIndex(TEMPLATES, [("capital_of", "france", "paris"), ("capital_of", "peru", "lima")])
    assert check_sentence(tokenize("fact : the capital of france is paris ."), index).deep
    false = check_sentence(tokenize("fact : the capital of france is lima ."), index)
    assert false.surface and not false.deep
    for fragment in ("fact : the capital of france is .", "fact : the capital of is paris .", "fact : paris ."):
        assert not check_sentence(tokenize(fragment), index).surface, fragment
    prose = check_sentence(tokenize("the capital of the module is its name ."), index)  # running text: no mark
    assert prose.surface and prose.deep


def test_every_builtin_reference_passes_both_checks():
    kinds: dict[str, set[str]] = {}
    facts = fact_items()
    for item in facts:
        kinds.setdefault(item.kind, set()).add(" ".join(item.answer))
    items = [*reasoning_items(200), *code_items(), *facts[:500]]
    assert {i.task for i in items} == {"reasoning", "code", "facts"} and len(code_items()) > 200
    for item in items:
        verdict = check_answer(item.task, list(item.prompt), list(item.answer), list(item.answer),
                               frozenset(kinds.get(item.kind, {" ".join(item.answer)})))
        assert verdict.deep, (item, verdict)
        # a whole sentence of the item passes too, as a filter sees it
        if item.task != "facts":
            assert check_sentence([*item.prompt, *item.answer, *item.closing], None).deep, item
    mentions = np.array([i.mentions for i in reasoning_items(300)])
    assert mentions.max() == 100 and (mentions == 1).any()  # a popularity tail


def test_ece_of_calibrated_and_overconfident_answers():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(size=20_000)
    calibrated = expected_calibration_error(confidence, (rng.uniform(size=20_000) < confidence).astype(float))
    # per bin the gap is a mean of ~2,000 Bernoulli residuals (sd <= 0.5): |gap| ~ 0.011; 10 bins average it
    assert calibrated < 0.03
    overconfident = expected_calibration_error(np.full(1000, 0.9), np.zeros(1000))
    assert overconfident == pytest.approx(0.9)


# --------------------------------------------------------------------------------------- task files


def write_items(tmp_path, lines: list[str]):
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD_LINES = [
    json.dumps({"task": "reasoning", "prompt": "ann has 7 pens . they buy 5 more . how many pens now ?",
                "answer": "7 + 5 = 12 ; answer : 12"}),
    json.dumps({"task": "code", "prompt": "def double(x):", "answer": "    return 2 * x"}),
    json.dumps({"task": "facts", "prompt": "the capital of france is", "answer": "paris", "kind": "capital_of",
                "mentions": 3}),
]


def test_task_file_reads_items(tmp_path):
    items = read_task_file(write_items(tmp_path, GOOD_LINES))
    assert [i.task for i in items] == ["reasoning", "code", "facts"]
    assert items[1].prompt[:3] == ("code", ":", "def") and items[2].mentions == 3


def test_code_items_survive_the_corpus_tokenizer():
    """A neural model's text is read back through the corpus tokenizer: code items must be its fixed points."""
    from cliffwatch.data.task_checks import DEDENT, INDENT, NEWLINE

    for item in code_items():
        text = " ".join(item.prompt + item.answer)
        assert tokenize(text) == [*item.prompt, *item.answer], text
        assert NEWLINE in item.prompt and item.answer[0] == INDENT and item.answer[-1] == DEDENT


@pytest.mark.parametrize("line, message", [
    ("{not json", "not JSON"),
    (json.dumps({"task": "poetry", "prompt": "a", "answer": "b"}), "unknown task 'poetry'"),
    (json.dumps({"task": "facts", "prompt": "the capital of france is"}), "missing answer"),
    (json.dumps({"task": "code", "prompt": "def f(x):", "answer": "    return x +"}), "does not parse"),
    (json.dumps({"task": "reasoning", "prompt": "ann has 7 pens . they buy 5 more . how many pens now ?",
                 "answer": "7 + 5 = 13 ; answer : 13"}), "fails its own check"),
])
def test_task_file_bad_item_names_file_and_item(tmp_path, line, message):
    path = write_items(tmp_path, [GOOD_LINES[0], line])
    with pytest.raises(DataError) as err:
        read_task_file(path)
    assert str(path) in str(err.value) and "line 2" in str(err.value) and message in str(err.value)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.dictionaries(
    st.sampled_from(["task", "prompt", "answer", "kind", "mentions", "x"]),
    st.one_of(st.sampled_from(["reasoning", "code", "facts", "def f(x):", "return x", "paris"]), st.integers(),
              st.text(max_size=10)), max_size=5).map(json.dumps)), max_size=4))
def test_task_file_any_content_loads_or_says_why(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("f") / "items.jsonl"
    path.write_text("\n".join(lines))
    try:
        items = read_task_file(path)
    except DataError as err:
        assert str(path) in str(err) and "\n" not in str(err)
    else:
        assert items


def test_cli_bad_task_input_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    import yaml

    base = {"name": "t", "family": {"name": "ngram", "order": 3}, "policy": {"synthetic_fraction": 1.0, "samples": 50},
            "generations": 1, "seeds": 1, "holdout": 20}
    for data, expected in (({"source": "tasks", "tasks": ["poetry"]}, "data.tasks"),
                           ({"source": "tasks", "file": str(write_items(tmp_path, ["{oops"]))}, "line 1")):
        config = tmp_path / "c.yaml"
        config.write_text(yaml.safe_dump({**base, "data": data}))
        code, out, err = invoke(monkeypatch, capsys, "run", config, "--out", tmp_path / "run", "-q")
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------- probes and filters, tiny


TINY = dict(
    family={"name": "ngram", "order": 8},
    data={"source": "tasks", "items": 120},
    policy={"synthetic_fraction": 1.0, "samples": 600},
    generations=1, holdout=50, probe_samples=50,
    probes=["task_reasoning", "task_code", "task_facts"],
)


def test_task_probes_measure_each_task_in_range():
    results = run_lineage(**TINY)
    values = results[0].values()
    for task in ("reasoning", "code", "facts"):
        assert values[f"{task}_scored"][0] > 0
        surface, deep, shape = (values[f"{task}_{m}"][0] for m in ("surface", "accuracy", "shape"))
        assert 0 <= deep <= surface <= 1 and shape == pytest.approx(surface - deep)
        rows = results[0].artifacts[f"task_items_{task}"]
        assert rows.shape[1] == 4 and all(r[3] == "passed" or r[3].startswith(("surface", "deep")) for r in rows)
    # every scored fact is in the training set and an 8-gram's context holds its subject
    assert values["facts_accuracy"][0] > 0.5


def test_remembered_checks_give_the_numbers_of_checking_every_answer(monkeypatch):
    from cliffwatch.core.registry import FAMILIES
    from cliffwatch.data.sources.tasks import TasksData, TasksSource
    from cliffwatch.probes import task_common
    from cliffwatch.probes.base import ProbeContext

    source = TasksSource(TasksData(source="tasks", items=60), 50, np.random.default_rng(0))
    train = source.draw(600, np.random.default_rng(1), 1)
    models = [FAMILIES.get("ngram")(source.info, {"order": 4}).fit(train, np.random.default_rng(2))]
    models.append(FAMILIES.get("ngram")(source.info, {"order": 4}).fit(models[0].sample(600, np.random.default_rng(3)),
                                                                         np.random.default_rng(4)))

    def measure() -> list[tuple[dict, np.ndarray]]:
        out = []
        for generation, model in enumerate(models, 1):  # the second generation repeats some answers
            for task in ("reasoning", "code", "facts"):
                ctx = ProbeContext(model=model, generation=generation, train=train, draw_samples=lambda: None,
                                   reference=source.reference(), info=source.info, make_rng=np.random.default_rng,
                                   source=source)
                out.append((task_common.task_values(ctx, task), ctx.artifacts[f"task_items_{task}"]))
        return out

    task_common.remembered_check.cache_clear()
    remembered = measure()
    assert task_common.remembered_check.cache_info().hits > 0  # some verdicts came from memory
    with monkeypatch.context() as patch:
        patch.setattr(task_common, "remembered_check",
                      lambda task, p, a, r, kinds: check_answer(task, list(p), list(a), list(r), kinds))
        plain = measure()
    for (values, items), (plain_values, plain_items) in zip(remembered, plain, strict=True):
        assert values.keys() == plain_values.keys()
        for name in values:
            np.testing.assert_array_equal(values[name], plain_values[name], err_msg=name)
        np.testing.assert_array_equal(items, plain_items)


def test_surface_critic_keeps_form_deep_verifier_keeps_substance():
    from cliffwatch.data.sources.tasks import TasksData, TasksSource
    from cliffwatch.families.ngram import NgramFamily
    from cliffwatch.filters.base import FilterContext
    from cliffwatch.filters.deep_verifier import DeepVerifier
    from cliffwatch.filters.surface_critic import SurfaceCritic
    from cliffwatch.filters.task_common import verdicts

    source = TasksSource(TasksData(source="tasks", items=120), 50, np.random.default_rng(0))
    model = NgramFamily(source.info, {"order": 3}).fit(source.pool, np.random.default_rng(1))
    samples = model.sample(800, np.random.default_rng(2))
    ctx = FilterContext(1, model, model.family, source.pool, source.pool, source.info, source, np.random.default_rng(3))
    surface, deep = SurfaceCritic().accept(samples, ctx), DeepVerifier().accept(samples, ctx)
    checks = verdicts(samples, source, source.info.vocab)
    assert (surface == [v.surface for v in checks]).all() and (deep == [v.deep for v in checks]).all()
    assert (deep <= surface).all()  # substance needs form
    # a 3-gram writes both kinds of error: broken items and well-formed wrong ones
    assert (~surface).any() and (surface & ~deep).any()


def test_task_filters_need_a_task_source():
    from cliffwatch.filters.surface_critic import SurfaceCritic

    class Corpus:
        facts = None

    assert "source: tasks" in SurfaceCritic.check(Corpus())


def test_tiny_task_run_writes_task_panels_and_items(tmp_path, monkeypatch, capsys):
    import yaml

    config = tmp_path / "tasks.yaml"
    config.write_text(yaml.safe_dump({"name": "tasks-tiny", **TINY, "seeds": 2,
                                      "policy": {"synthetic_fraction": 1.0, "samples": 300}}))
    code, _, err = invoke(monkeypatch, capsys, "run", config, "--out", tmp_path / "run", "-q", "--workers", "1")
    assert code == 0, err
    code, _, err = invoke(monkeypatch, capsys, "report", tmp_path / "run")
    assert code == 0, err
    page = (tmp_path / "run" / "report.html").read_text()
    assert "Tasks: form and substance" in page and "shape w/o substance" in page
    assert page.count("<th>reference</th>") == 3  # sample items of each task


# what code_names.py must get right: reads before binding, augmented assignment, builtins read then
# bound (UndefinedLocal), comprehension and lambda scopes, defaults evaluated at module level
EDGE_CASES = [
    "def f(x):\n    total += x\n    return total\n",
    "def f(x):\n    n = len(x)\n    len = 3\n    return len\n",
    "def f(x):\n    print = print\n",
    "def f(x):\n    y = (print, 1)\n    print = 2\n",
    "def f(x):\n    y = [z for z in x if len(z)]\n    len = 2\n",
    "def f(x):\n    return [len for len in x], [x for x in x]\n",
    "def f(x):\n    g = lambda: later\n    later = 1\n    return g\n",
    "def f(x):\n    return (lambda a=b: a), [lambda: i for i in x], (lambda: (lambda: q))()\n",
    "def f(x):\n    return {k: v for k, v in x.items() if w}, [[y for y in z] for z in y]\n",
    "def f(x):\n    for i in range(x):\n        if i:\n            print(j)\n        j = i\n",
    "def f(x):\n    x, *rest = x\n    f = rest\n    return f\n",
    "def f(x):\n    y = f(x)\n    f = 2\n",
    "def f(x, y=x, z=f, w=len):\n    return y, z, w\n",
    "def f(x):\n    a = b = c\n    c = 1\n    x[i] = 1\n    i = 0\n    x.attr += undefined\n",
    "def f(x):\n    return f'{x!r:>{width}}', __class__, __name__, __file__, __module__\n",
    "def f(*args, **kwargs):\n    while args:\n        yield k\n        k = kwargs\n    return kw\n",
    "def f(x):\n    l = [i for i in range(3)]\n    g = lambda y: [y + z for z in x] + [w]\n    w = 1\n    return i\n",
]


def plain_pyflakes(tree) -> list[str]:
    from pyflakes import messages
    from pyflakes.checker import Checker

    found = [m.message_args for m in Checker(tree).messages
             if isinstance(m, (messages.UndefinedName, messages.UndefinedLocal))]
    return [args if isinstance(args, str) else args[0] for args in found]  # a builtin's UndefinedLocal: the name alone


def test_undefined_names_match_plain_pyflakes():
    """On every stdlib function of the code task, a 6-gram's answers and the edge cases, the quick
    pass (where it mirrors) and the pyflakes path both give pyflakes' own names, in its order, and
    the quick pass the names the code reads."""
    import ast

    from cliffwatch.core.registry import FAMILIES
    from cliffwatch.data import code_names
    from cliffwatch.data.sources.tasks import TasksData, TasksSource
    from cliffwatch.data.task_checks import detokenize_code, pyflakes_undefined_names, undefined_names

    sources = [detokenize_code(list(i.prompt[2:] + i.answer)) for i in code_items()] + EDGE_CASES
    source = TasksSource(TasksData(source="tasks", items=400), 300, np.random.default_rng(0))
    model = FAMILIES.get("ngram")(source.info, {"order": 6}).fit(source.draw(4000, np.random.default_rng(1), 1),
                                                                 np.random.default_rng(2))
    tasks, vocab = source.tasks, source.info.vocab
    code = np.flatnonzero(tasks.task == "code")  # answered as the code probe asks (no closing word)
    answers, _ = model.answer(tasks.prompts.take(code), int(tasks.answers.take(code).lengths.max()) + 2, -1)
    sources += [detokenize_code(list(tasks.prompt_tokens[i][2:]) + [vocab.words[w] for w in answers.sentence(k)])
                for k, i in enumerate(code.tolist())]
    mirrored = parsed = 0
    for text in filter(None, sources):
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        parsed += 1
        expected = plain_pyflakes(tree)
        assert undefined_names(tree) == expected == pyflakes_undefined_names(tree), text
        quick = code_names.scan(tree)
        if quick is not None:  # and the names it reads, for the every-parameter-read check
            reads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            assert quick == (expected, reads), text
            mirrored += 1
    assert parsed > 400 and mirrored > 0.9 * parsed  # the quick pass serves most functions: the speed is real
    assert all(code_names.scan(ast.parse(case)) is not None for case in EDGE_CASES)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_quick_pass_gives_pyflakes_names_on_mangled_functions(data):
    """Stdlib functions with lines dropped, swapped, repeated, or one name put for another (what a
    model's answers look like): wherever the quick pass answers, it answers as pyflakes."""
    import ast
    import re

    from cliffwatch.data import code_names
    from cliffwatch.data.task_checks import detokenize_code

    item = data.draw(st.sampled_from(code_items()))
    head, *body = detokenize_code(list(item.prompt[2:] + item.answer)).splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        if not body:
            break
        i, j = data.draw(st.integers(0, len(body) - 1)), data.draw(st.integers(0, len(body) - 1))
        edit = data.draw(st.sampled_from(["drop", "swap", "repeat", "rename"]))
        if edit == "drop":
            del body[i]
        elif edit == "swap":
            body[i], body[j] = body[j], body[i]
        elif edit == "repeat":
            body.insert(j, body[i])
        else:
            names = sorted(set(re.findall(r"[a-z_]+", "\n".join(body))))
            old, new = data.draw(st.sampled_from(names)), data.draw(st.sampled_from(names))
            body = [re.sub(rf"\b{old}\b", new, line) for line in body]
    try:
        tree = ast.parse("\n".join([head, *body]) + "\n")
    except SyntaxError:
        return
    quick = code_names.scan(tree)
    assert quick is None or quick[0] == plain_pyflakes(tree)


def test_demo_tasks_track_is_a_valid_task_sweep():
    from cliffwatch import api
    from cliffwatch.core.errors import ConfigError

    demo = api.demo_config("tasks")
    assert demo.data.source == "tasks" and len(demo.sweep["policy.synthetic_fraction"]) >= 6 and len(demo.seeds) >= 3
    assert {"task_reasoning", "task_code", "task_facts"} <= set(demo.probes)
    with pytest.raises(ConfigError, match="unknown demo track"):
        api.demo_config("poetry")


def test_majority_baseline_counts_the_most_common_answer_per_kind():
    from types import SimpleNamespace

    from cliffwatch.probes.task_common import majority_accuracy

    tasks = SimpleNamespace(kind=np.array(["capital", "capital", "capital", "currency"]),
                            answer_tokens=(("paris",), ("paris",), ("lima",), ("euro",)))
    assert majority_accuracy(tasks, np.arange(4)) == pytest.approx(3 / 4)
    assert np.isnan(majority_accuracy(tasks, np.zeros(0, dtype=int)))


def test_task_panels_hold_intervals_per_curve_and_generation():
    import pandas as pd

    from cliffwatch.analysis.tasks import task_panels

    rows = [{"metric": f"facts_{m}", "value": v + 0.1 * seed, "generation": g, "seed": seed, "chain": 0,
             "lineage": f"l{seed}", "synthetic_fraction": 1.0}
            for g in (0, 3) for seed in range(3) for m, v in (("accuracy", 0.5), ("surface", 0.9))]
    panels = task_panels(pd.DataFrame(rows))
    assert list(panels) == ["facts"] and [r.generation for r in panels["facts"]] == [0, 3]
    mean, low, high = panels["facts"][0].cells["accuracy"]
    assert mean == pytest.approx(0.6) and low < mean < high
    assert np.isnan(panels["facts"][0].cells["ece"][0])  # not measured: nan, not zero
