"""The README's "your own pipeline" example runs as written, and wrap_pipeline detects each family."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from explorer.errors import InputError
from explorer.models import wrap_pipeline

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_runs(capsys):
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- own-pipeline-example -->\n```python\n(.*?)```", text, re.S)
    assert block, "README.md lost its own-pipeline example"
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 12
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("sd1 (64, 64) 4 ")


def test_wrap_pipeline_reads_the_family_from_the_class(tiny_model, tiny_xl):
    assert wrap_pipeline(tiny_xl.pipe, name="mine-xl").family == "sdxl"
    assert wrap_pipeline(tiny_model.pipe, name="mine", steps=7).preset.steps == 7
    with pytest.raises(InputError, match="pipe"):
        wrap_pipeline(object(), name="x")
    with pytest.raises(InputError, match="name"):
        wrap_pipeline(tiny_model.pipe, name=" ")
