"""The spec of a comparison: ``--vary`` lists, seeds, the planned runs and ``comparison.json``.

Shared by :mod:`trainlab.tools.compare` (which runs it) and :mod:`trainlab.tools.compare_report`
(which summarizes it), so neither imports the other.
"""
from __future__ import annotations

import copy
import itertools
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainlab.errors import TrainlabError
from trainlab.recipe import Recipe, load_recipe, read_recipe_data
from trainlab.rundir import versions
from trainlab.safety.strict_yaml import read_json

SPEC_FILE = "comparison.json"


@dataclass(frozen=True)
class Vary:
    """One ``--vary KEY=V1,V2,…``: a recipe key path and its values as YAML text."""

    key: str
    values: tuple[str, ...]


def split_values(text: str) -> list[str]:
    """Split ``V1,V2,…`` at the commas outside brackets and quotes, so lists stay whole.

    >>> split_values("[32],[64, 64],'a,b'")
    ['[32]', '[64, 64]', "'a,b'"]
    """
    parts, current, depth, quote = [], [], 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    if depth or quote:
        raise TrainlabError(f"--vary value list {text!r}: unbalanced brackets or quotes")
    return parts


def parse_vary(text: str) -> Vary:
    """``optim.lr=0.1,0.01`` → ``Vary('optim.lr', ('0.1', '0.01'))``; values are parsed as YAML later."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise TrainlabError(f"--vary {text!r}: expected KEY=V1,V2,…, e.g. --vary optim.lr=0.1,0.01")
    if key == "seed":
        raise TrainlabError("--vary seed: seeds come from --seeds N (the recipe's seed, +1, …, +N−1)")
    values = split_values(raw)
    if "" in values:
        raise TrainlabError(f"--vary {text!r}: an empty value; separate values by single commas")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise TrainlabError(f"--vary {key}: {', '.join(repeated)} listed twice; give each value once")
    return Vary(key, tuple(values))


@dataclass(frozen=True)
class PlannedRun:
    """One (variant, seed): its directory name and the ``--set`` list that makes ``trainlab run`` do it."""

    name: str
    variant: int
    seed: int
    overrides: tuple[str, ...]


def _slug(overrides: tuple[str, ...], limit: int = 48) -> str:
    """``('optim.lr=0.1', 'model.hidden=[4, 4]')`` → ``optim.lr=0.1+model.hidden=4,4``, safe as a file name."""
    text = "+".join(re.sub(r"[\[\]{}'\" ]", "", o) for o in overrides) or "recipe"
    return re.sub(r"[^A-Za-z0-9._=,+-]+", "_", text)[:limit]


@dataclass
class Comparison:
    """The spec: the recipe file's data, its ``--set`` overrides, the ``--vary`` lists, seeds per variant."""

    recipe: dict[str, Any]
    sets: list[str]
    varies: list[Vary]
    seeds: int
    recipe_file: str = ""

    def variants(self) -> list[tuple[str, ...]]:
        """Each variant's ``key=value`` overrides, in cartesian-product order; the first is the baseline."""
        combos = itertools.product(*(v.values for v in self.varies))
        return [tuple(f"{v.key}={value}" for v, value in zip(self.varies, combo)) for combo in combos]

    def labels(self) -> list[str]:
        return [", ".join(overrides) or "the recipe as given" for overrides in self.variants()]

    def base(self) -> Recipe:
        return load_recipe(copy.deepcopy(self.recipe), self.sets)  # load_recipe edits nested sections in place

    def plan(self) -> list[PlannedRun]:
        first = self.base().seed
        return [PlannedRun(f"v{i}-{_slug(overrides)}-seed{first + k}", i, first + k,
                           (*self.sets, *overrides, f"seed={first + k}"))
                for i, overrides in enumerate(self.variants()) for k in range(self.seeds)]

    def recipe_of(self, run: PlannedRun) -> Recipe:
        return load_recipe(copy.deepcopy(self.recipe), list(run.overrides))

    def spec(self) -> dict[str, Any]:
        """What makes two comparisons the same (the recipe file's path does not)."""
        spec = {"recipe": self.recipe, "set": list(self.sets), "seeds": self.seeds,
                "vary": [{"key": v.key, "values": list(v.values)} for v in self.varies]}
        return json.loads(json.dumps(spec))

    def to_json(self) -> dict[str, Any]:
        runs = [{"name": r.name, "variant": r.variant, "seed": r.seed, "overrides": list(r.overrides)}
                for r in self.plan()]
        return {"format": 1, "recipe_file": self.recipe_file, **self.spec(), "variants": self.labels(), "runs": runs,
                "created": time.time(), "versions": versions()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Comparison:
        return cls(data["recipe"], list(data["set"]), [Vary(v["key"], tuple(v["values"])) for v in data["vary"]],
                   int(data["seeds"]), data.get("recipe_file", ""))


def comparison_from_args(recipe_file: str | Path, varies: list[str], seeds: int, sets: list[str]) -> Comparison:
    """Build and check the spec of ``trainlab compare``; every variant's recipe is validated here,
    so a bad key or value fails with the recipe's own message before any run starts."""
    load_recipe(recipe_file, sets)  # a missing file, bad YAML or a bad --set, said the usual way
    raw = read_recipe_data(recipe_file) or {}  # its data paths made absolute, as every run records them
    if seeds < 1:
        raise TrainlabError(f"--seeds: {seeds} is not valid; give the number of seeds per variant, 1 or more")
    parsed = [parse_vary(text) for text in varies]
    keys = [v.key for v in parsed]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise TrainlabError(f"--vary {', '.join(twice)} given twice; list all values in one --vary KEY=V1,V2,…")
    comparison = Comparison(raw, list(sets), parsed, seeds, str(recipe_file))
    runs = comparison.plan()
    for run in runs[::seeds] + runs[seeds - 1::seeds]:  # each variant's first and last seed (seeds past 2**32 − 1)
        comparison.recipe_of(run)
    return comparison


def load_comparison(out_dir: str | Path) -> Comparison:
    """The spec saved in ``out_dir/comparison.json`` (for ``--resume DIR``)."""
    path = Path(out_dir) / SPEC_FILE
    if not path.is_file():
        raise TrainlabError(f"--resume {out_dir}: not a comparison directory (no {SPEC_FILE})")
    data = read_json(path, SPEC_FILE)
    try:
        return Comparison.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise TrainlabError(f"{SPEC_FILE} {path} is damaged (it lacks the recipe, set, vary or seeds of a "
                            "comparison); start the comparison again with a new --out") from None
