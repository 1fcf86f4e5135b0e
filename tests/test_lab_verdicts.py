"""Verdicts from several seeds: the interval, the three verdicts, and how reports and the CLI show them.

These test the framework with made-up per-seed values, so every expected number is exact.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from trainlab.cli import main
from trainlab.labs import Check, Evidence, Lab, LabResult, Row, all_labs, core, get_lab, lab, run_lab
from trainlab.labs.report import summary_markdown, write_lab_report
from trainlab.labs.verdict import combine, median_interval


def test_interval_of_three_seeds_is_their_range_and_of_ten_about_the_3rd_to_8th():
    assert median_interval([0.3, 0.1, 0.2]) == (0.1, 0.3)
    lo, hi = median_interval(list(range(10)))
    assert (lo, hi) == (2.0, 7.0)  # the 2.5 % / 97.5 % quantiles of 10 000 bootstrap medians


def test_interval_covers_the_median_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(400):  # samples of 15 from N(0, 1), whose median is 0
        lo, hi = median_interval(rng.standard_normal(15).tolist(), resamples=2000)
        covered += lo <= 0 <= hi
    # the percentile bootstrap of a median is known to run a little over or under nominal at small n;
    # 400 trials have a binomial SE of 1.1 points, so [0.88, 0.995] is the nominal 0.95 ± 5 SE plus that bias
    assert 0.88 <= covered / 400 <= 0.995


def test_interval_is_a_pure_function_of_the_values():
    values = [0.15, 0.22, 0.18, 0.11, 0.4]
    assert median_interval(values) == median_interval(list(values))


@pytest.mark.parametrize("values, bound, expected", [
    ((0.2, 0.3, 0.25), {"at_least": 0.1}, "reproduced"),            # every seed clears 0.1
    ((0.01, 0.02, 0.05), {"at_least": 0.1}, "not reproduced"),      # every seed is below it
    ((0.05, 0.2, 0.3), {"at_least": 0.1}, "inconclusive"),          # the interval straddles it
    ((0.0, 0.0, 0.0), {"at_most": 0.01}, "reproduced"),
    ((0.1, 0.2, 0.3), {"at_most": 0.01}, "not reproduced"),
    ((0.1, 0.1, 0.1), {"at_least": 0.1}, "reproduced"),             # the threshold itself counts ("≥")
    ((0.2, math.nan, math.nan), {"at_least": 0.1}, "inconclusive"),  # one value is no distribution
])
def test_three_verdicts(values, bound, expected):
    assert Evidence("effect", values, **bound).verdict == expected


def test_missing_values_are_left_out_and_counted():
    e = Evidence("dead fraction", (0.2, math.nan, 0.3, 0.25), at_least=0.1, source="notes")
    assert e.median == 0.25 and e.verdict == "reproduced"
    assert "1 without a value" in e.summary() and "4 seeds" in e.summary()
    assert e.to_dict()["values"][1] == "nan"
    json.dumps(e.to_dict())  # plain JSON


def test_evidence_needs_exactly_one_threshold_and_one_value_per_seed():
    with pytest.raises(ValueError, match="exactly one"):
        Evidence("x", (1.0,))
    with pytest.raises(ValueError, match="exactly one"):
        Evidence("x", (1.0,), at_least=0, at_most=1)
    with pytest.raises(ValueError, match="2 values for 3 seeds"):
        Evidence("x", (1.0, 2.0), at_least=0, seeds=(0, 1, 2))


def test_a_lab_is_reproduced_only_when_every_criterion_is():
    yes, no, maybe = "reproduced", "not reproduced", "inconclusive"
    assert combine([yes, yes]) == yes
    assert combine([yes, maybe]) == maybe
    assert combine([maybe, no, yes]) == no
    assert combine([]) == maybe  # no criterion decides nothing
    result = LabResult([], [Check("exact", True), Evidence("e", (1, 2, 3), at_least=0)])
    assert result.verdict == yes and result.reproduced
    assert result.criterion("exact").passed and result.criterion("e").median == 2
    with pytest.raises(KeyError, match="criteria"):
        result.criterion("nothing")


def _toy(quick: bool, out_dir, seeds: tuple[int, ...]) -> LabResult:
    values = [0.1 * (s + 1) for s in seeds]  # seed s → 0.1 (s + 1)
    return LabResult([Row("<b>median</b>", float(np.median(values)))],
                     [Evidence("effect <x>", values, at_least=0.05, source="theory & notes", seeds=seeds),
                      Check("table matches", True)], note="toy")


TOY = Lab(id="C99", name="toy", claim="an effect is positive", measures="a number", source="none",
          experiment=_toy)


def _registered_by(module: str, lab_id: str = "C98"):
    def experiment(quick: bool, out_dir, seeds: tuple[int, ...]) -> LabResult:
        return LabResult([], [Check("exact", True)])

    experiment.__module__ = module
    return lab(id=lab_id, name="toy", claim="a claim", measures="a number", source="none")(experiment)



def isolate_registry(monkeypatch) -> None:
    """Let a test register labs into a copy of the registry. Every claim module is imported into the
    real one first: discovery runs once per process, so running it inside the copy would leave the
    real registry with only the labs imported before (which tests in other files then miss)."""
    core.all_labs()
    monkeypatch.setattr(core, "_REGISTRY", dict(core._REGISTRY))


def test_lab_decorator_registers_and_a_reimport_replaces_but_another_module_may_not(monkeypatch):
    isolate_registry(monkeypatch)  # what the test registers leaves with it
    first = _registered_by("claims_a")
    assert first(True, None, (0,)).reproduced  # the function comes back unchanged
    registered = get_lab("c98")
    assert (registered.id, registered.source, registered.quick_seeds, registered.experiment) == ("C98", "none", 3, first)
    again = _registered_by("claims_a")  # the same module run again (a re-import, a notebook cell)
    assert get_lab("C98").experiment is again
    with pytest.raises(ValueError, match=r"lab C98 is already registered \(by claims_a\); claims_b"):
        _registered_by("claims_b")
    assert get_lab("C98").experiment is again
    with pytest.raises(ValueError, match="C<number>"):
        _registered_by("claims_a", "c98")


def test_reloading_a_claim_module_keeps_one_lab(monkeypatch):
    import importlib

    isolate_registry(monkeypatch)
    module = importlib.import_module("trainlab.labs.claims.c19_bias_variance")
    importlib.reload(module)
    assert get_lab("C19").experiment is module.run
    assert [found.id for found in all_labs()].count("C19") == 1


def test_every_lab_lives_in_claims_named_after_its_id():
    labs = all_labs()
    assert [found.number for found in labs] == sorted(found.number for found in labs)
    for found in labs:
        assert found.experiment.__module__.startswith(f"trainlab.labs.claims.c{found.number:02d}_"), found.id


def test_run_passes_the_requested_seeds_and_records_them(tmp_path):
    assert TOY.run(True, None).seeds == (0, 1, 2)  # quick default: 3
    assert TOY.run(False, None).seeds == tuple(range(10))  # full default: 10
    result = run_lab(TOY, True, tmp_path, seeds=5)
    assert result.seeds == (0, 1, 2, 3, 4)
    saved = json.loads((tmp_path / "C99" / "result.json").read_text())
    assert saved["seeds"] == [0, 1, 2, 3, 4] and saved["verdict"] == "reproduced"
    assert saved["criteria"][0]["values"] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert saved["criteria"][0]["interval"] == pytest.approx([0.1, 0.5])


def test_report_shows_per_seed_values_interval_and_escapes(tmp_path):
    result = TOY.run(True, None)
    page = write_lab_report(TOY, result, tmp_path / "r.html").read_text()
    assert "per seed — 0: 0.1, 1: 0.2, 2: 0.3" in page
    assert "[0.1, 0.3]" in page and "≥ 0.05" in page and "theory &amp; notes" in page
    assert "effect &lt;x&gt;" in page and "<b>median</b>" not in page
    table = summary_markdown([(TOY, result)])
    assert "median 0.2, 95 % interval [0.1, 0.3] over 3 seeds" in table and "| 3 | **reproduced** |" in table


def test_cli_seeds_must_be_a_positive_number(capsys):
    for bad in ("0", "-2", "three"):
        with pytest.raises(SystemExit) as exit_:
            main(["lab", "C19", "--seeds", bad])
        assert exit_.value.code == 2
        assert "--seeds" in capsys.readouterr().err


def test_the_example_lab_in_docs_labs_md_runs(monkeypatch):
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "labs.md").read_text()
    code = text.split("## Adding a lab")[1].split("```python\n")[1].split("```")[0]
    isolate_registry(monkeypatch)  # C99 leaves with the test
    exec(compile(code, "docs/labs.md", "exec"), {"__name__": "docs_labs_example"})
    assert get_lab("c99").experiment.__module__ == "docs_labs_example"
    result = get_lab("C99").run(True, None, seeds=3)
    assert result.seeds == (0, 1, 2) and len(result.checks[0].values) == 3
    assert result.verdict in ("reproduced", "not reproduced", "inconclusive")


def test_infinite_values_count_and_only_nan_is_left_out():
    inf = math.inf
    assert Evidence("loss ratio", (inf, inf, inf), at_most=2.0).verdict == "not reproduced"
    # three of five seeds blew up: the median is inf, but its interval reaches down to 1.0
    assert Evidence("loss ratio", (1.0, 1.5, inf, inf, inf), at_most=2.0).verdict == "inconclusive"
    assert Evidence("gain", (inf, inf, 3.0), at_least=1.0).verdict == "reproduced"
    e = Evidence("gain", (inf, math.nan, 3.0, 2.0), at_least=1.0)
    assert e.median == 3.0 and "1 without a value" in e.summary()
