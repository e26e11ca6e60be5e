"""The undefined names pyflakes reports for one function, in one quick pass over common code.

The code task's deep check asks pyflakes (pinned, ``pyflakes==3.2.0``) for the undefined names of
each answer: 0.1 ms of pure-Python work per function, most of a 6-gram generation's probing. For a
function built from the common subset below, this pass gives the same names in the same order,
about 5x faster; anything else (a nested def or class, try, with, del, global, imports, walrus,
match, annotations, decorators) returns None and the caller asks pyflakes.
tests/test_tasks.py compares the two on every stdlib function of the code task and on thousands of
model answers.

What it mirrors, for a module holding one function: pyflakes binds the function's name after
evaluating its defaults (at module level, where only builtins are bound), then walks the body in
its own field order (`pyflakes.checker.iter_child_nodes`: a loop's iterable before its target, an
assignment's value before its targets, a comprehension's generators before its element), binding
names in order, so a name read before its first binding is undefined. Comprehensions are scopes of
their own, walked in place; lambda bodies are walked after the enclosing function's whole body (in
the order met), seeing its final bindings. A name the function reads from the builtins and later
binds is an undefined local (UndefinedLocal) when the read was in the function's own scope.
"""

from __future__ import annotations

import ast
from collections import deque

from pyflakes.checker import Checker, iter_child_nodes

BUILTINS = frozenset(Checker.builtIns)  # Python's, and the names pyflakes takes as always defined
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
# nodes walked child by child in pyflakes' field order (their pyflakes handlers only add messages
# these checks do not read); Name, Lambda, comprehensions and AugAssign are handled apart
_PLAIN = (ast.Return, ast.Assign, ast.Expr, ast.If, ast.While, ast.For, ast.Raise, ast.Assert, ast.BoolOp,
          ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Dict, ast.Set, ast.List, ast.Tuple, ast.Compare, ast.Call,
          ast.keyword, ast.Attribute, ast.Subscript, ast.Slice, ast.Starred, ast.JoinedStr, ast.FormattedValue,
          ast.Yield, ast.YieldFrom, ast.comprehension)
_LEAVES = (ast.Constant, ast.Pass, ast.Break, ast.Continue, ast.expr_context, ast.operator, ast.boolop,
           ast.unaryop, ast.cmpop)


class _Outside(Exception):
    """The function uses a construct this pass does not mirror: ask pyflakes."""


def scan(tree: ast.Module) -> tuple[list[str], set[str]] | None:
    """(pyflakes' UndefinedName and UndefinedLocal names in its report order, every name the code
    reads) for a module of one plain function; None if it is not one this pass mirrors."""
    if len(tree.body) != 1 or type(tree.body[0]) is not ast.FunctionDef:
        return None
    try:
        found = _Pass(tree.body[0])
    except _Outside:
        return None
    return found.names, found.read


class _Pass:
    def __init__(self, function: ast.FunctionDef) -> None:
        if function.decorator_list or function.returns or getattr(function, "type_params", None):
            raise _Outside
        self.names: list[str] = []
        self.read: set[str] = set()  # every name loaded (an augmented assignment's target is a store)
        self.module = set(BUILTINS)
        self.used_from: dict[str, int] = {}  # module-level name -> id of the scope that last read it
        self.deferred: deque = deque()
        signature = function.args
        if any(a.annotation is not None for a in _arguments(signature)):
            raise _Outside
        self.stack: list[set[str]] = [self.module]
        for default in [*signature.defaults, *signature.kw_defaults]:
            self.visit(default)
        self.module.add(function.name)
        self.function_scope = {a.arg for a in _arguments(signature)}
        self.stack = [self.module, self.function_scope]
        for statement in function.body:
            self.visit(statement)
        while self.deferred:  # lambdas: after the body that holds them, with its final bindings
            lambda_, stack = self.deferred.popleft()
            self.stack = [*stack, {a.arg for a in _arguments(lambda_.args)}]
            self.visit(lambda_.body)

    def visit(self, node: ast.AST | None) -> None:
        if node is None:
            return
        kind = type(node)
        if kind is ast.Name:
            if type(node.ctx) is ast.Load:
                self.read.add(node.id)
                self.load(node.id)
            elif type(node.ctx) is ast.Store:
                self.store(node.id)
            else:
                raise _Outside  # del
        elif isinstance(node, _PLAIN):
            for child in iter_child_nodes(node):
                self.visit(child)
        elif isinstance(node, _LEAVES):
            pass
        elif isinstance(node, _COMPREHENSIONS):
            self.stack.append(set())
            for child in iter_child_nodes(node):
                self.visit(child)
            self.stack.pop()
        elif kind is ast.Lambda:
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                self.visit(default)
            self.deferred.append((node, list(self.stack)))
        elif kind is ast.AugAssign:
            if type(node.target) is ast.Name:
                self.load(node.target.id)
            self.visit(node.value)
            self.visit(node.target)
        else:
            raise _Outside

    def load(self, name: str) -> None:
        for scope in reversed(self.stack):
            if name in scope:
                if scope is self.module:
                    self.used_from[name] = id(self.stack[-1])
                return
        self.names.append(name)

    def store(self, name: str) -> None:
        scope = self.stack[-1]
        # the first binding in the function's own scope of a name it has read from the module
        if (scope is self.function_scope and name not in scope and len(self.stack) == 2
                and self.used_from.get(name) == id(scope)):
            self.names.append(name)
        scope.add(name)


def _arguments(signature: ast.arguments) -> list[ast.arg]:
    return [*signature.posonlyargs, *signature.args, *signature.kwonlyargs,
            *(a for a in (signature.vararg, signature.kwarg) if a is not None)]
