"""Run the lesson examples and write the README's lessons table from what they reached.

    python tools/lessons.py                 # every lesson with --quick, then update README.md
    python tools/lessons.py 07 12           # rerun two; the table keeps the others' results
    python tools/lessons.py --mode smoke --no-readme

Each example writes ``result.json`` (see :mod:`gluon_dl.lesson`); the table takes the
lesson's number and title from the script's docstring (``Lesson: N. Title``), the model
and data from the run's notes, and its first checked figure with the time.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
README = ROOT / "README.md"
START, END = "<!-- lessons:start -->", "<!-- lessons:end -->"
LESSON_LINE = re.compile(r"^Lesson: (\d+)\. (.+)$", re.M)


def lesson_scripts():
    """The lesson examples, ``examples/NN_name.py``, in lesson order."""
    return sorted(EXAMPLES.glob("[0-9][0-9]_*.py"))


def lesson_title(script):
    """``(number, title)`` from the script's ``Lesson: N. Title`` docstring line."""
    import ast

    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    match = LESSON_LINE.search(doc)
    if match is None:
        raise SystemExit(f"{script.name}: its docstring has no 'Lesson: N. Title' line")
    return int(match.group(1)), match.group(2).strip()


def run_lesson(script, mode, out, timeout=900):
    """Run one example; returns its result.json (with the wall time) or a failure record."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script), f"--{mode}", "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    wall = time.perf_counter() - start
    result_file = out / "result.json"
    result = json.loads(result_file.read_text()) if result_file.exists() else {
        "passed": False, "figures": {}, "notes": {},
        "failures": [proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output"]}
    result.update(returncode=proc.returncode, wall=round(wall, 1))
    return result


def table(rows):
    """The Markdown lessons table."""
    lines = ["| # | lesson | example | model | data (offline default) | `--quick` reaches | time |",
             "|---:|---|---|---|---|---|---:|"]
    for script, (number, title), result in rows:
        figures = result.get("figures", {})
        label, value = next(iter(figures.items())) if figures else ("—", float("nan"))
        reached = f"{label} {value:.3g}" if result.get("passed") else "**failed**"
        notes = result.get("notes", {})
        lines.append(f"| {number} | {title} | [`{script.name}`](examples/{script.name}) | "
                     f"{notes.get('model', '—')} | {notes.get('data', '—')} | {reached} | "
                     f"{result.get('wall', 0):.0f} s |")
    return "\n".join(lines)


def update_readme(text):
    readme = README.read_text(encoding="utf-8")
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md has no {START} ... {END} section to fill")
    head, rest = readme.split(START, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers or file-name parts (default all)")
    parser.add_argument("--mode", choices=("quick", "smoke", "full"), default="quick")
    parser.add_argument("--results", type=Path, default=ROOT / "lesson_output" / "results",
                        help="folder keeping each lesson's last result (default "
                             "lesson_output/results); the table is built from it")
    parser.add_argument("--no-readme", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    scripts = [s for s in lesson_scripts()
               if not args.lessons or any(part in s.name for part in args.lessons)]
    results = args.results / args.mode
    results.mkdir(parents=True, exist_ok=True)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for script in scripts:
            result = run_lesson(script, args.mode, Path(tmp) / script.stem)
            failed += not result.get("passed")
            (results / f"{script.stem}.json").write_text(json.dumps(result, indent=2))
            print(f"{script.name:40s} {'ok' if result.get('passed') else 'FAILED'} "
                  f"{result['wall']:6.1f} s  {result.get('figures')}", flush=True)
    rows = [(s, lesson_title(s), json.loads((results / f"{s.stem}.json").read_text()))
            for s in lesson_scripts() if (results / f"{s.stem}.json").exists()]
    text = table(rows)
    print(text)
    if not args.no_readme and args.mode == "quick" and len(rows) == len(lesson_scripts()):
        update_readme(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
