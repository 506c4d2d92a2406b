"""The machinery every lesson example shares: modes, the learning check, results."""
import json
import math

import pytest

from gluon_dl.lesson import RESULT_FILE, Lesson


def _lesson(tmp_path, *args):
    return Lesson("A lesson.\n\nMore text.", argv=[*args, "--out", str(tmp_path / "out")],
                  name="demo_lesson")


@pytest.mark.parametrize("args, mode, value", [((), "full", 10), (("--quick",), "quick", 3),
                                               (("--smoke",), "smoke", 1)])
def test_pick_follows_the_mode(tmp_path, args, mode, value):
    lesson = _lesson(tmp_path, *args)
    assert lesson.mode == mode
    assert lesson.pick(full=10, quick=3, smoke=1) == value


def test_smoke_defaults_to_the_quick_value(tmp_path):
    assert _lesson(tmp_path, "--smoke").pick(full=10, quick=3) == 3


def test_quick_and_smoke_exclude_each_other(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _lesson(tmp_path, "--quick", "--smoke")
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def _finish(lesson):
    with pytest.raises(SystemExit) as exc:
        lesson.finish()
    return exc.value.code, json.loads((lesson.out / RESULT_FILE).read_text())


def test_learning_passes_with_exit_0_and_writes_the_result(tmp_path):
    lesson = _lesson(tmp_path, "--quick")
    lesson.check("accuracy", 0.91, above=0.5)
    lesson.check("loss", 0.2, below=1.0)
    lesson.note("model", "lenet5")
    code, result = _finish(lesson)
    assert code == 0
    assert result["passed"] and result["mode"] == "quick" and result["lesson"] == "demo_lesson"
    assert result["figures"] == {"accuracy": 0.91, "loss": 0.2}
    assert result["notes"]["model"] == "lenet5"


@pytest.mark.parametrize("value, bound", [(0.1, {"above": 0.5}), (0.5, {"above": 0.5}),
                                          (2.0, {"below": 1.0})])
def test_no_learning_exits_1_naming_the_figure(tmp_path, capsys, value, bound):
    lesson = _lesson(tmp_path)
    lesson.check("accuracy", value, **bound)
    code, result = _finish(lesson)
    assert code == 1 and not result["passed"]
    assert "accuracy" in result["failures"][0]
    assert "did not learn" in capsys.readouterr().err


def test_smoke_skips_the_bound_but_not_finiteness(tmp_path):
    lesson = _lesson(tmp_path, "--smoke")
    lesson.check("accuracy", 0.01, above=0.5)
    assert _finish(lesson)[0] == 0
    lesson = _lesson(tmp_path, "--smoke")
    lesson.check("loss", math.nan, below=1.0)
    code, result = _finish(lesson)
    assert code == 1 and "nan" in result["failures"][0]


def test_a_file_as_out_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("keep")
    with pytest.raises(SystemExit) as exc:
        Lesson("x", argv=["--out", str(tmp_path / "f")])
    assert exc.value.code == 2 and "is a file" in capsys.readouterr().err
    assert (tmp_path / "f").read_text() == "keep"


def test_save_plot_writes_a_png(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lesson = _lesson(tmp_path)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = lesson.save_plot(fig, "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_root_reads_the_official_set_and_says_what_is_missing(tmp_path):
    from gluon_dl.errors import DataError

    lesson = _lesson(tmp_path, "--data-root", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        lesson.image_data("mnist", "mnist-5k")


def test_offline_default_gives_train_and_test(tmp_path):
    X, y, X_test, y_test = _lesson(tmp_path, "--smoke").image_data("mnist", "mnist-5k")
    assert X.shape[1:] == X_test.shape[1:] == (28, 28)
    assert len(X) == len(y) and len(X_test) == len(y_test) and len(X) > len(X_test)


def test_lm_data_reads_python_docs_offline_with_a_unigram_baseline(tmp_path):
    lesson = _lesson(tmp_path, "--smoke")
    train_iter, test_iter, vocab, baseline = lesson.lm_data(4, 5, max_tokens=1000,
                                                            max_held_out=500)
    X, Y = next(iter(train_iter.batches(0)))
    assert X.shape == Y.shape == (4, 5)
    assert 1 < baseline < len(vocab)  # letter frequencies beat a uniform guess
    assert "python-docs" in lesson.notes["data"]
    assert lesson.lm_prefix == "the value of "
