"""Every example runs offline: each lesson in a smoke form here, its --quick run under `slow`.

The README's lessons table is checked against the examples: every lesson
script has its row, with the model and data set its smoke run reports.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import lessons  # noqa: E402  (tools/lessons.py)

LESSONS = lessons.lesson_scripts()


def _run(script, tmp_path, *args):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(script), *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=1200,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    result_file = out / "result.json"
    assert result_file.exists(), f"exit {proc.returncode}: {proc.stderr[-3000:]}"
    result = json.loads(result_file.read_text())
    assert proc.returncode == 0 and result["passed"], (result["failures"], proc.stderr[-3000:])
    assert result["figures"], "the run reported no figure"
    assert list(out.glob("*.png")), "the run wrote no plot"
    return result


def _readme_rows():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(lessons.START, 1)[1].split(lessons.END, 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| (\d+) \| (.+?) \| \[`(.+?)`\].*? \| (.*?) \| (.*?) \|", line)
        if match:
            rows[match.group(3)] = dict(number=int(match.group(1)), title=match.group(2),
                                        model=match.group(4), data=match.group(5))
    return rows


def test_every_lesson_has_one_numbered_example():
    assert sorted((ROOT / "examples").glob("*.py")) == LESSONS, "an example outside the lessons"
    numbers = [lessons.lesson_title(s)[0] for s in LESSONS]
    assert numbers == sorted(set(numbers)), "two examples claim the same lesson"
    for script, number in zip(LESSONS, numbers):
        assert script.name.startswith(f"{number:02d}_"), script.name


def test_the_readme_lists_every_lesson_example():
    rows = _readme_rows()
    assert sorted(rows) == [s.name for s in LESSONS]
    for script in LESSONS:
        number, title = lessons.lesson_title(script)
        assert (rows[script.name]["number"], rows[script.name]["title"]) == (number, title)


@pytest.mark.parametrize("script", LESSONS, ids=lambda p: p.stem)
def test_lesson_smoke(script, tmp_path):
    result = _run(script, tmp_path, "--smoke")
    assert result["mode"] == "smoke"
    row = _readme_rows().get(script.name)
    assert row is not None, f"README's lessons table has no row for {script.name}"
    assert row["model"] == result["notes"].get("model", "—")


@pytest.mark.slow
@pytest.mark.parametrize("script", LESSONS, ids=lambda p: p.stem)
def test_lesson_quick_run_learns(script, tmp_path):
    assert _run(script, tmp_path, "--quick")["mode"] == "quick"
