"""YAML text to nodes, within bounds, with YAML 1.2 core-schema scalars.

A procedure or station file may come from anywhere, so composing one must never hang, exhaust
memory or overflow the stack. PyYAML's own composer shares an aliased node instead of copying it,
and everything downstream then expands it: nine lines of nested aliases ("billion laughs")
become 10^9 nodes, and an alias inside its own anchor becomes a cycle. This composer builds the
same node graph from the parser's events, one at a time and without recursion, and keeps two
structural counts as it goes: how many nodes the document comes to once every alias is expanded,
and how deep it nests once expanded. It refuses the document at the first event that crosses a
bound, so the cost of a hostile file is bounded by the bound, not by the file.

Scalars resolve by the YAML 1.2 core schema, not PyYAML's YAML 1.1: only true/false (any case
pattern YAML allows) are booleans, so `on`, `off`, `yes`, `no` stay strings; `1:30` is text,
not 90; `017` is 17.
"""

from __future__ import annotations

import re

import yaml
from yaml.events import (AliasEvent, CollectionEndEvent, CollectionStartEvent, DocumentStartEvent, MappingStartEvent,
                         ScalarEvent, StreamEndEvent)

try:  # libyaml is several times faster; both keep marks
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

MAX_NODES = 50_000  # once aliases are expanded; the largest shipped file is ~500 nodes, 50,000 validate in 0.3 s
MAX_DEPTH = 64  # levels of nesting once aliases are expanded; the shipped files nest at most 11

STR, SEQ, MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
NULL, BOOL = "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"
INT, FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_CORE = (  # https://yaml.org/spec/1.2.2/#1032-tag-resolution
    (NULL, re.compile(r"(?:~|null|Null|NULL|)")),
    (BOOL, re.compile(r"(?:true|True|TRUE|false|False|FALSE)")),
    (INT, re.compile(r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)")),
    (FLOAT, re.compile(r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                       r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))")),
)


class Refused(Exception):
    """The document crosses a bound (or is malformed in a way PyYAML would not locate)."""

    def __init__(self, mark: yaml.Mark, message: str, hint: str) -> None:
        super().__init__(message)
        self.line, self.col, self.message, self.hint = mark.line + 1, mark.column + 1, message, hint


def is_core(tag: str, text: str) -> bool:
    """Whether a plain scalar `text` is written the way the core schema writes a `tag` value."""
    return any(t == tag and pattern.fullmatch(text) for t, pattern in _CORE)


def core_value(tag: str, text: str) -> object:
    """The Python value of a plain scalar resolved to `tag` by the core schema."""
    if tag == NULL:
        return None
    if tag == BOOL:
        return text.lower() == "true"
    if tag == INT:
        return int(text[2:], 8) if text.startswith("0o") else int(text, 16) if text.startswith("0x") else int(text)
    if tag == FLOAT:
        low = text.lower().lstrip("+")
        return float("nan") if low == ".nan" else float(low.replace(".inf", "inf"))
    return text


def _resolve(event: ScalarEvent) -> str:
    if event.tag not in (None, "!"):
        return event.tag
    if event.tag is None and event.implicit[0]:  # plain (unquoted), untagged
        for tag, pattern in _CORE:
            if pattern.fullmatch(event.value):
                return tag
    return STR


def compose(text: str) -> yaml.Node | None:
    """The single document in `text` as a node graph (aliases shared, as PyYAML's composer does).

    Raises Refused when it would expand past MAX_NODES or MAX_DEPTH, when an alias refers to a
    node that contains it, or when an alias names no anchor; yaml.MarkedYAMLError for bad syntax.
    """
    loader = _Loader(text)
    try:
        return _Composer().run(loader)
    finally:
        loader.dispose()


class _Composer:
    def __init__(self) -> None:
        self.anchors: dict[str, yaml.Node] = {}
        self.size: dict[int, int] = {}  # id(node) -> nodes it expands to, itself included
        self.height: dict[int, int] = {}  # id(node) -> levels of collections it expands to (a scalar: 0)
        self.open: list[yaml.Node] = []  # collections being composed, outermost first
        self.total = 0  # nodes of the document so far, every alias expanded
        self.root: yaml.Node | None = None

    def run(self, loader: yaml.Loader) -> yaml.Node | None:
        documents = 0
        while True:
            event = loader.get_event()
            if isinstance(event, StreamEndEvent):
                return self.root
            if isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise Refused(event.start_mark, "a second YAML document ('---') in one file",
                                  "a file holds one procedure or station: split it, or remove the '---'")
            elif isinstance(event, AliasEvent):
                self.alias(event)
            elif isinstance(event, ScalarEvent):
                node = yaml.ScalarNode(_resolve(event), event.value, event.start_mark, event.end_mark, event.style)
                self.add(node, event, 1, 0)
            elif isinstance(event, CollectionStartEvent):
                self.start(event)
            elif isinstance(event, CollectionEndEvent):
                self.end(event)

    def alias(self, event: AliasEvent) -> None:
        node = self.anchors.get(event.anchor)
        if node is None:
            raise Refused(event.start_mark, f"alias *{event.anchor} names no anchor",
                          f"define it first with &{event.anchor}, or write the value out")
        if any(node is o for o in self.open):
            raise Refused(event.start_mark, f"recursive alias *{event.anchor}: it repeats a node that contains it",
                          "an alias may only repeat a node that is already complete; write the value out")
        if len(self.open) + self.height[id(node)] > MAX_DEPTH:
            raise Refused(event.start_mark, f"alias *{event.anchor} nests the document more than {MAX_DEPTH} levels "
                          "deep", f"at most {MAX_DEPTH} levels of nesting, aliases expanded; write it flatter")
        self.add(node, event, self.size[id(node)], self.height[id(node)], is_alias=True)

    def start(self, event: CollectionStartEvent) -> None:
        mapping = isinstance(event, MappingStartEvent)
        default = MAP if mapping else SEQ
        tag = default if event.tag in (None, "!") else event.tag
        cls = yaml.MappingNode if mapping else yaml.SequenceNode
        node = cls(tag, [], event.start_mark, event.end_mark, flow_style=event.flow_style)
        if len(self.open) + 1 > MAX_DEPTH:
            raise Refused(event.start_mark, f"nested more than {MAX_DEPTH} levels deep",
                          f"a procedure needs far fewer levels (at most {MAX_DEPTH}); write it flatter")
        self.add(node, event, 1, 1)
        self.open.append(node)

    def end(self, event: yaml.Event) -> None:
        node = self.open.pop()
        node.end_mark = event.end_mark
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        self.size[id(node)] = 1 + sum(self.size[id(c)] for c in children)
        self.height[id(node)] = 1 + max((self.height[id(c)] for c in children), default=0)

    def add(self, node: yaml.Node, event: yaml.Event, size: int, height: int, is_alias: bool = False) -> None:
        self.total += size
        if self.total > MAX_NODES:
            what = f"alias *{event.anchor} takes" if is_alias else "at this point,"
            raise Refused(event.start_mark, f"{what} the document past {MAX_NODES:,} YAML nodes (aliases expanded)",
                          "an alias that repeats a repeat multiplies the document (an 'alias bomb'); write the "
                          "content out, or repeat steps with for_each or sweep")
        anchor = getattr(event, "anchor", None)
        if anchor is not None and not is_alias:
            self.anchors[anchor] = node  # registered before its children, so an alias inside it is seen as recursive
        if not isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) or is_alias:
            self.size[id(node)], self.height[id(node)] = size, height
        if not self.open:
            self.root = node
            return
        parent = self.open[-1]
        if isinstance(parent, yaml.MappingNode):
            if parent.value and len(parent.value[-1]) == 1:
                parent.value[-1] = (parent.value[-1][0], node)
            else:
                parent.value.append((node,))  # type: ignore[arg-type]  # a key waiting for its value
        else:
            parent.value.append(node)
