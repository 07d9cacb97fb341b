"""The small, safe expression language of conditions and limits. Never Python `eval`.

    psu.current(channel=1) < 2 A and sled.max_tj < 95 degC
    vdd_core * 0.97
    abs(dmm.voltage_dc - vdd_core) <= 10 mV

Values are numbers in SI with a dimension. Names are procedure parameters and loop variables;
`role.reading(arg=value, ...)` (parentheses optional without arguments) reads an instrument.
Operators: `or and not`, comparisons, `+ - * /`, unary minus; functions `abs min max exp`.
Dimensions multiply and divide: (tj_hot - tj_idle) / (p_hot - p_idle) is a thermal resistance.
An expression is checked for dimensions before anything runs (`1 V < 2 A` is an error), then
compiled to closures so that a poll costs a few function calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from bringup.language.expr_tokens import _SPLIT, MAX_DEPTH, MAX_LENGTH, MAX_NESTING, ExprError, Tok, TooComplex, tokenize
from bringup.core.units import Quantity, multiply_dimensions

# -- the tree ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    pos: int


@dataclass(frozen=True)
class Num(Node):
    si: float
    dim: str


@dataclass(frozen=True)
class Str(Node):
    value: str


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Read(Node):
    role: str
    reading: str
    args: tuple[tuple[str, Node], ...]


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


_FUNCS = {"abs": (1, 1), "min": (2, 8), "max": (2, 8), "exp": (1, 1)}
_CMP = ("<", "<=", ">", ">=", "==", "!=")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        nesting = run = 0
        for t in self.toks:  # before parsing: the parser recurses once per level
            run = run + 1 if t.text in ("-", "+", "not") else 0
            nesting += (t.text == "(") - (t.text == ")")
            if nesting + run > MAX_NESTING:
                raise TooComplex(f"nested more than {MAX_NESTING} deep (parentheses, signs, 'not')", t.pos, _SPLIT)

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self, text: str | None = None, kind: str | None = None) -> Tok:
        t = self.peek()
        if (text is not None and t.text != text) or (kind is not None and t.kind != kind):
            want = repr(text) if text else kind
            got = "the end" if t.kind == "end" else repr(t.text)
            raise ExprError(f"expected {want}, found {got}", t.pos)
        self.i += 1
        return t

    def parse(self) -> Node:
        node = self.or_()
        if self.peek().kind != "end":
            raise ExprError(f"unexpected {self.peek().text!r}", self.peek().pos,
                            "join conditions with 'and' / 'or'")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek().text == "or":
            t = self.take()
            node = Binary(t.pos, "or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek().text == "and":
            t = self.take()
            node = Binary(t.pos, "and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.peek().text == "not":
            t = self.take()
            return Unary(t.pos, "not", self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        node = self.sum()
        if self.peek().text in _CMP:
            t = self.take()
            node = Binary(t.pos, t.text, node, self.sum())
            if self.peek().text in _CMP:
                raise ExprError("chained comparisons are not supported", self.peek().pos, "write 'a < b and b < c'")
        return node

    def sum(self) -> Node:
        node = self.prod()
        while self.peek().text in ("+", "-"):
            t = self.take()
            node = Binary(t.pos, t.text, node, self.prod())
        return node

    def prod(self) -> Node:
        node = self.unary()
        while self.peek().text in ("*", "/"):
            t = self.take()
            node = Binary(t.pos, t.text, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek().text in ("-", "+"):
            t = self.take()
            operand = self.unary()
            return operand if t.text == "+" else Unary(t.pos, "-", operand)
        return self.atom()

    def atom(self) -> Node:
        t = self.peek()
        if t.kind == "num":
            self.take()
            v = t.value
            if isinstance(v, Quantity):
                return Num(t.pos, v.si, v.dimension)
            return Num(t.pos, float(v), "number")
        if t.kind == "str":
            self.take()
            return Str(t.pos, t.value)
        if t.text == "(":
            self.take()
            node = self.or_()
            self.take(")")
            return node
        if t.kind == "name":
            self.take()
            if t.text in ("and", "or", "not"):
                raise ExprError(f"'{t.text}' needs a value before it", t.pos)
            if t.text in ("true", "false"):
                return Num(t.pos, 1.0 if t.text == "true" else 0.0, "bool")
            if t.text in ("nan", "inf"):
                return Num(t.pos, float(t.text), "number")
            if t.text in _FUNCS and self.peek().text == "(":
                self.take("(")
                args = [self.or_()]
                while self.peek().text == ",":
                    self.take()
                    args.append(self.or_())
                self.take(")")
                lo, hi = _FUNCS[t.text]
                if not lo <= len(args) <= hi:
                    raise ExprError(f"{t.text}() takes {lo}{'' if lo == hi else f' to {hi}'} arguments", t.pos)
                return Call(t.pos, t.text, tuple(args))
            if self.peek().text == ".":
                self.take()
                reading = self.take(kind="name")
                args: list[tuple[str, Node]] = []
                if self.peek().text == "(":
                    self.take()
                    while self.peek().text != ")":
                        key = self.take(kind="name")
                        self.take("=")
                        args.append((key.text, self.sum()))
                        if self.peek().text != ")":
                            self.take(",")
                    self.take(")")
                return Read(t.pos, t.text, reading.text, tuple(args))
            return Name(t.pos, t.text)
        raise ExprError("expected a value" if t.kind != "end" else "the expression ends too soon", t.pos)


def parse(text: str) -> Node:
    if not isinstance(text, str) or not text.strip():
        raise ExprError("empty expression")
    if len(text) > MAX_LENGTH:
        raise TooComplex(f"the expression is {len(text):,} characters long (at most {MAX_LENGTH:,})", MAX_LENGTH, _SPLIT)
    node = _Parser(text).parse()
    todo = [(node, 1)]
    while todo:  # the depth of the tree, without recursion
        n, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise TooComplex(f"more than {MAX_DEPTH} operators deep", n.pos, _SPLIT)
        todo.extend((k, depth + 1) for k in _children(n))
    return node


def _children(n: Node) -> tuple[Node, ...]:
    if isinstance(n, Unary):
        return (n.operand,)
    if isinstance(n, Binary):
        return (n.left, n.right)
    if isinstance(n, Call):
        return n.args
    return tuple(a for _, a in n.args) if isinstance(n, Read) else ()


# -- checking ------------------------------------------------------------------------------------
ReadingUnit = Callable[[str, str, tuple[str, ...]], str]  # (role, reading, arg names) -> dimension; raises ExprError


def check(node: Node, names: dict[str, str], reading_dim: ReadingUnit) -> str:
    """The dimension of `node` ("bool" for conditions), or ExprError where it does not add up."""
    if isinstance(node, Num):
        return node.dim
    if isinstance(node, Str):
        return "str"
    if isinstance(node, Name):
        if node.name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise ExprError(f"unknown name '{node.name}'", node.pos, f"parameters and loop variables here: {known}")
        return names[node.name]
    if isinstance(node, Read):
        for _, a in node.args:
            check(a, names, reading_dim)
        return reading_dim(node.role, node.reading, tuple(k for k, _ in node.args))
    if isinstance(node, Unary):
        d = check(node.operand, names, reading_dim)
        if node.op == "not":
            return "bool"
        return d
    if isinstance(node, Call):
        dims = [check(a, names, reading_dim) for a in node.args]
        if node.func == "exp":
            if dims[0] not in ("number", "ratio"):
                raise ExprError(f"exp() of a {dims[0]}: its argument must be a plain number", node.pos,
                                "e.g. exp(beta * (t_hot - t_cold)) with beta in /K")
            return "number"
        if node.func != "abs" and len(set(dims) - {"number"}) > 1:
            raise ExprError(f"{node.func}() of different quantities: {', '.join(dims)}", node.pos)
        return next((d for d in dims if d != "number"), dims[0])
    assert isinstance(node, Binary)
    left = check(node.left, names, reading_dim)
    right = check(node.right, names, reading_dim)
    if node.op in ("and", "or"):
        return "bool"
    if node.op in _CMP:
        if left != right and "number" not in (left, right) and "str" not in (left, right):
            raise ExprError(f"cannot compare a {left} with a {right}", node.pos, "give both sides the same kind of unit")
        return "bool"
    if node.op in ("+", "-"):
        if left != right and "number" not in (left, right):
            raise ExprError(f"cannot {'add' if node.op == '+' else 'subtract'} a {left} and a {right}", node.pos)
        return left if left != "number" else right
    if node.op == "*":
        if "number" in (left, right) or "ratio" in (left, right):
            return right if left in ("number", "ratio") else left
        return multiply_dimensions(left, right)
    if left == right:
        return "number"
    if right in ("number", "ratio"):
        return left
    return multiply_dimensions(left, right, divide=True)


# -- evaluation ----------------------------------------------------------------------------------
Reader = Callable[[str, str, dict[str, Any]], float]  # (role, reading, args) -> SI value


def compile_expr(node: Node, names: dict[str, Any], read: Reader | None) -> Callable[[], Any]:
    """A closure that evaluates `node`. `names` may be updated between calls (loop variables)."""
    if isinstance(node, Num):
        v = node.si
        return lambda: v
    if isinstance(node, Str):
        s = node.value
        return lambda: s
    if isinstance(node, Name):
        key = node.name

        def name() -> Any:
            v = names[key]
            return v.si if isinstance(v, Quantity) else v
        return name
    if isinstance(node, Read):
        if read is None:
            raise ExprError("readings are not allowed here", node.pos, "limits may use parameters, not instruments")
        role, reading_name = node.role, node.reading
        args = [(k, compile_expr(a, names, None)) for k, a in node.args]
        return lambda: read(role, reading_name, {k: f() for k, f in args})
    if isinstance(node, Unary):
        f = compile_expr(node.operand, names, read)
        return (lambda: not f()) if node.op == "not" else (lambda: -f())
    if isinstance(node, Call):
        fs = [compile_expr(a, names, read) for a in node.args]
        fn = {"abs": abs, "min": min, "max": max, "exp": _exp}[node.func]
        return lambda: fn(*(f() for f in fs))
    assert isinstance(node, Binary)
    a, b = compile_expr(node.left, names, read), compile_expr(node.right, names, read)
    op = node.op
    if op == "and":
        return lambda: bool(a()) and bool(b())
    if op == "or":
        return lambda: bool(a()) or bool(b())
    ops: dict[str, Callable[[Any, Any], Any]] = {
        "<": lambda x, y: x < y, "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y,
        "==": lambda x, y: x == y, "!=": lambda x, y: x != y, "+": lambda x, y: x + y, "-": lambda x, y: x - y,
        "*": lambda x, y: x * y, "/": lambda x, y: x / y if y else math.copysign(math.inf, x) if x else math.nan,
    }
    f2 = ops[op]
    return lambda: f2(a(), b())


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def walk(node: Node):
    """Every node of an expression, depth first."""
    yield node
    for child in _children(node):
        yield from walk(child)


def readings_in(node: Node) -> list[Read]:
    """Every instrument reading an expression makes (for validation against drivers)."""
    return [n for n in walk(node) if isinstance(n, Read)]


def names_in(node: Node) -> set[str]:
    """Every parameter or loop variable an expression uses."""
    return {n.name for n in walk(node) if isinstance(n, Name)}
