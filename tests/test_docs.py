"""The docs cannot drift: the catalogue is regenerated and compared, and code examples run."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from trainlab.registry import ALL
from trainlab.report.techniques import techniques_markdown

DOCS = Path(__file__).parent.parent / "docs"


def test_techniques_md_is_up_to_date():
    assert (DOCS / "techniques.md").read_text() == techniques_markdown(), (
        "docs/techniques.md is stale: run `trainlab list --markdown > docs/techniques.md`"
    )


def test_techniques_md_lists_every_name_with_a_yaml_snippet():
    text = techniques_markdown()
    for table in ALL.values():
        for entry in table:
            section = text.split(f"### `{entry.name}`\n", 1)[1].split("\n### ", 1)[0]
            assert "```yaml\n" in section, entry.name


def test_extending_examples_run(tmp_path):
    # The examples register new names, so they run in their own interpreter, in order.
    code = "\n".join(re.findall(r"```python\n(.*?)```", (DOCS / "extending.md").read_text(), re.DOTALL))
    code += "\ntest_softsign_matches_its_formula()\nprint('ok')\n"
    script = tmp_path / "extending.py"
    script.write_text(code)
    process = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip().endswith("ok")


def test_bad_parameter_message_in_extending_md_is_what_trainlab_prints(tmp_path):
    text = (DOCS / "extending.md").read_text()
    quoted = re.search(r"fails with\n`(model\.activation\.scale: .*?) …`", text).group(1)
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.DOTALL)[:3]).replace('"scale": 2.0', '"scale": "big"')
    code = code.replace("recipe = trainlab.load_recipe({\n    \"data\": {\"name\": \"moons\"},",
                        "try:\n  recipe = trainlab.load_recipe({\n    \"data\": {\"name\": \"moons\"},")
    code += "\nexcept trainlab.RecipeError as e:\n  print(e.problems[0])\n"
    script = tmp_path / "bad.py"
    script.write_text(code)
    process = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=120)
    assert quoted in process.stdout, process.stdout + process.stderr
