"""The one way trainlab reads YAML and JSON files: strict, bounded, one-line errors.

PyYAML's ``SafeLoader`` (no arbitrary objects) does the parsing; this module adds what it lacks:

* a key given twice in one mapping is an error naming the key and both lines (PyYAML keeps the last);
* aliases may not expand the document by more than :data:`ALIAS_EXPANSION_LIMIT` nodes. PyYAML
  shares an alias's object instead of copying it, so a 511-byte "billion laughs" document loads
  quickly, but anything that walks it (validation, ``repr``, JSON) would expand it exponentially.
  The expanded size is counted on the composed node graph with memoization, so the check costs
  one pass over the *distinct* nodes; recursive aliases are refused as well;
* nesting deeper than :data:`MAX_DEPTH` is refused (no ``RecursionError``);
* the file must be UTF-8 (the error names the byte offset), exist and be a file, not a directory.

>>> load_yaml("a: 1\\nb: 2\\n", "x.yaml")
{'a': 1, 'b': 2}
>>> load_yaml("a: 1\\na: 2\\n", "x.yaml")
Traceback (most recent call last):
trainlab.errors.RecipeError: x.yaml: line 2: key 'a' given twice (first at line 1); keep one
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from trainlab.errors import RecipeError, TrainlabError
from trainlab.safety.text import shorten

ALIAS_EXPANSION_LIMIT = 10_000  # nodes that aliases may add; a real recipe adds a few dozen at most
MAX_DEPTH = 64  # nested sections/lists; a recipe needs fewer than 10
MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """A reason to refuse a document, with the line it was found on (0-based) or None."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys, alias bombs, recursive aliases and deep nesting."""

    depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self.depth += 1  # refused here, before PyYAML's recursive composer could hit the recursion limit
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark.line)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        if isinstance(node, MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG or isinstance(key_node, (MappingNode, SequenceNode)):
                    continue  # merges are PyYAML's; an unhashable key is refused by PyYAML itself
                key = self.construct_object(key_node)
                line = key_node.start_mark.line
                if key in first:
                    raise _Refused(f"key {shorten(key)} given twice (first at line {first[key] + 1}); keep one", line)
                first[key] = line
        return super().construct_mapping(node, deep)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: Node) -> None:
    """Refuse cycles, nesting deeper than MAX_DEPTH, and aliases adding more than the limit."""
    expanded: dict[int, int] = {}  # id(node) → size of its subtree with every alias expanded
    on_path: set[int] = set()

    def size(node: Node, depth: int) -> int:
        key = id(node)
        if key in expanded:
            return expanded[key]
        if key in on_path:
            raise _Refused("a recursive alias (a node that contains itself) cannot be a recipe value",
                           node.start_mark.line)
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", node.start_mark.line)
        on_path.add(key)
        total = 1 + sum(size(child, depth + 1) for child in _children(node))
        on_path.discard(key)
        expanded[key] = total
        return total

    total = size(root, 0)
    if total - len(expanded) > ALIAS_EXPANSION_LIMIT:
        raise _Refused(f"aliases expand the document to {total} values from {len(expanded)} written "
                       f"(limit: {ALIAS_EXPANSION_LIMIT} added by aliases); write the values out instead")


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML ``text`` strictly; ``source`` names it in errors (a file name or ``--set KEY``)."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # StrictLoader is a SafeLoader
    except _Refused as e:
        where = f" line {e.line + 1}:" if e.line is not None else ""
        raise RecipeError([f"{source}:{where} {e}"]) from None
    except RecursionError:
        raise RecipeError([f"{source}: nested too deeply to read (more than {MAX_DEPTH} levels)"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RecipeError([f"{source}:{where} is not valid YAML: {problem}"]) from None


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of the file ``path``; ``what`` names it in errors ("recipe file", "run.json")."""
    path = Path(path)
    if path.is_dir():
        raise TrainlabError(f"{what} {path} is a directory, not a file")
    if not path.is_file():
        raise TrainlabError(f"{what} {path} does not exist")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")  # a byte-order mark from Windows editors is allowed
    except UnicodeDecodeError as e:
        raise TrainlabError(f"{what} {path} is not UTF-8 text (byte {e.start}: 0x{data[e.start]:02x}); "
                            "save it as UTF-8") from None


def read_yaml(path: str | Path, what: str = "recipe file") -> Any:
    """A YAML file's data, read with :func:`read_text` and :func:`load_yaml`."""
    return load_yaml(read_text(path, what), str(path))


def read_json(path: str | Path, what: str) -> Any:
    """A JSON file's data; a truncated or edited file is one line naming it."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise TrainlabError(f"{what} {path} is truncated or damaged (not valid JSON: {str(e)[:80]})") from None
