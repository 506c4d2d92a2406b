"""Pruning schedules: one suite over every registered schedule, plus exact values."""
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.prune import schedules
from deploy.prune.schedules import (ConstantSparsity, OneShot, PolynomialDecay,
                                    PruningSchedule, get_schedule, list_schedules,
                                    register_schedule)
from gluon_dl.errors import ArgumentError, ArgumentTypeError

REPO = Path(__file__).resolve().parents[1]
STEPS = range(0, 200)

# Example values by constructor-argument name (the schedules' shared vocabulary),
# not by schedule: a new schedule reusing these names is tested with no edit here.
_EXAMPLE_ARGS = {
    "target_sparsity": 0.6,
    "initial_sparsity": 0.1,
    "final_sparsity": 0.8,
    "begin_step": 10,
    "end_step": 60,
    "step": 20,
    "power": 2,
    "frequency": 7,
}


def make_example(name):
    """Build schedule ``name`` with every argument set to a non-default example."""
    cls = schedules._lookup(name)
    config = {}
    for arg in inspect.signature(cls.__init__).parameters:
        if arg == "self":
            continue
        if arg not in _EXAMPLE_ARGS:
            pytest.fail(f"{name}: add an example value for argument '{arg}' to _EXAMPLE_ARGS")
        config[arg] = _EXAMPLE_ARGS[arg]
    return get_schedule(name, **config)


def outputs(schedule, steps=STEPS):
    return [schedule(step) for step in steps]


def test_registry_lists_the_schedules_defined_here():
    assert {"ConstantSparsity", "PolynomialDecay", "OneShot"} <= set(list_schedules())
    assert list_schedules() == sorted(list_schedules())


@pytest.mark.parametrize("name", list_schedules())
def test_dict_round_trip_rebuilds_an_equal_schedule(name):
    schedule = make_example(name)
    d = schedule.to_dict()
    assert d["class_name"] == name
    rebuilt = PruningSchedule.from_dict(d)
    assert rebuilt == schedule
    assert type(rebuilt) is type(schedule)
    assert hash(rebuilt) == hash(schedule)
    assert outputs(rebuilt) == outputs(schedule)


@pytest.mark.parametrize("name", list_schedules())
def test_dict_round_trip_survives_json(name):
    schedule = make_example(name)
    rebuilt = PruningSchedule.from_dict(json.loads(json.dumps(schedule.to_dict())))
    assert rebuilt == schedule
    assert outputs(rebuilt) == outputs(schedule)


@pytest.mark.parametrize("name", list_schedules())
def test_from_dict_on_its_own_class_and_config_round_trip(name):
    schedule = make_example(name)
    cls = type(schedule)
    assert cls.from_dict(schedule.to_dict()) == schedule
    assert cls.from_config(schedule.get_config()) == schedule
    assert get_schedule(name, **schedule.get_config()) == schedule


@pytest.mark.parametrize("name", list_schedules())
def test_changed_config_is_not_equal(name):
    schedule = make_example(name)
    config = schedule.get_config()
    key = next(k for k in config if k.endswith("sparsity"))
    config[key] = config[key] + 0.05
    assert type(schedule).from_config(config) != schedule


@pytest.mark.parametrize("name", list_schedules())
def test_outputs_are_bool_and_sparsity_in_range(name):
    schedule = make_example(name)
    for should_prune, sparsity in outputs(schedule):
        assert isinstance(should_prune, bool)
        assert isinstance(sparsity, float)
        assert 0.0 <= sparsity < 1.0
    assert any(prune for prune, _ in outputs(schedule)), "schedule never prunes"


@pytest.mark.parametrize("name", list_schedules())
def test_sparsity_never_decreases(name):
    sparsities = [sparsity for _, sparsity in outputs(make_example(name), range(0, 500))]
    assert all(a <= b for a, b in zip(sparsities, sparsities[1:]))


@pytest.mark.parametrize("name", list_schedules())
@pytest.mark.parametrize("step", [1.0, "3", True, None])
def test_non_integer_step_is_rejected(name, step):
    with pytest.raises(ArgumentTypeError, match="step must be an int"):
        make_example(name)(step)


def test_polynomial_decay_matches_the_formula():
    s = PolynomialDecay(initial_sparsity=0.2, final_sparsity=0.8, begin_step=100,
                        end_step=300, power=3, frequency=10)

    def formula(step):
        p = min(1.0, max(0.0, (step - 100) / 200))
        return 0.8 + (0.2 - 0.8) * (1 - p) ** 3

    assert s(100) == (True, pytest.approx(0.2))
    assert s(200) == (True, pytest.approx(0.8 - 0.6 * 0.125))
    assert s(300) == (True, pytest.approx(0.8))
    assert s(50) == (False, pytest.approx(0.2))
    assert s(1000) == (False, pytest.approx(0.8))
    for step in (100, 137, 150, 250, 299, 300):
        assert s.sparsity_at(step) == pytest.approx(formula(step), abs=1e-12)


def test_polynomial_decay_power_one_is_linear():
    s = PolynomialDecay(0.0, 0.5, begin_step=0, end_step=10, power=1, frequency=1)
    assert [s.sparsity_at(step) for step in range(11)] == pytest.approx(
        [0.05 * step for step in range(11)])


def pruning_steps(schedule, steps):
    return [step for step in steps if schedule(step)[0]]


def test_frequency_and_end_step():
    s = ConstantSparsity(0.5, begin_step=10, end_step=35, frequency=10)
    assert pruning_steps(s, range(100)) == [10, 20, 30, 35]
    assert s(20) == (True, 0.5)
    assert s(21) == (False, 0.5)


def test_end_step_minus_one_prunes_forever():
    s = ConstantSparsity(0.5, begin_step=3, frequency=4)
    assert pruning_steps(s, range(20)) == [3, 7, 11, 15, 19]
    assert s(3 + 4 * 10 ** 6)[0]


def test_polynomial_decay_prunes_on_frequency_and_at_end():
    s = PolynomialDecay(0.0, 0.9, begin_step=5, end_step=27, frequency=10)
    assert pruning_steps(s, range(60)) == [5, 15, 25, 27]


def test_one_shot_prunes_exactly_once():
    s = OneShot(0.7, step=12)
    assert pruning_steps(s, range(1000)) == [12]
    assert s(12) == (True, 0.7)
    assert OneShot(0.3)(0) == (True, 0.3)


def test_frequency_one_prunes_every_step_in_range():
    s = ConstantSparsity(0.1, begin_step=2, end_step=6, frequency=1)
    assert pruning_steps(s, range(10)) == [2, 3, 4, 5, 6]


@pytest.mark.parametrize("cls, kwargs, error, match", [
    (ConstantSparsity, dict(target_sparsity=1.0, begin_step=0), ValueError, "target_sparsity"),
    (ConstantSparsity, dict(target_sparsity=-0.1, begin_step=0), ValueError, "target_sparsity"),
    (ConstantSparsity, dict(target_sparsity=float("nan"), begin_step=0), ValueError,
     "target_sparsity"),
    (ConstantSparsity, dict(target_sparsity="0.5", begin_step=0), TypeError, "target_sparsity"),
    (ConstantSparsity, dict(target_sparsity=0.5, begin_step=-1), ValueError, "begin_step"),
    (ConstantSparsity, dict(target_sparsity=0.5, begin_step=1.5), TypeError, "begin_step"),
    (ConstantSparsity, dict(target_sparsity=0.5, begin_step=10, end_step=5), ValueError,
     "end_step"),
    (ConstantSparsity, dict(target_sparsity=0.5, begin_step=0, end_step=-2), ValueError,
     "end_step"),
    (ConstantSparsity, dict(target_sparsity=0.5, begin_step=0, frequency=0), ValueError,
     "frequency"),
    (ConstantSparsity, dict(target_sparsity=0.5, begin_step=0, frequency=True), TypeError,
     "frequency"),
    (PolynomialDecay, dict(initial_sparsity=0.0, final_sparsity=1.0, begin_step=0,
                           end_step=10), ValueError, "final_sparsity"),
    (PolynomialDecay, dict(initial_sparsity=0.5, final_sparsity=0.2, begin_step=0,
                           end_step=10), ValueError, "final_sparsity"),
    (PolynomialDecay, dict(initial_sparsity=0.0, final_sparsity=0.5, begin_step=10,
                           end_step=10), ValueError, "end_step"),
    (PolynomialDecay, dict(initial_sparsity=0.0, final_sparsity=0.5, begin_step=0,
                           end_step=-1), ValueError, "end_step"),
    (PolynomialDecay, dict(initial_sparsity=0.0, final_sparsity=0.5, begin_step=0,
                           end_step=10, power=0), ValueError, "power"),
    (PolynomialDecay, dict(initial_sparsity=0.0, final_sparsity=0.5, begin_step=0,
                           end_step=10, power=-2), ValueError, "power"),
    (PolynomialDecay, dict(initial_sparsity=0.0, final_sparsity=0.5, begin_step=0,
                           end_step=10, power="3"), TypeError, "power"),
    (PolynomialDecay, dict(initial_sparsity=0.0, final_sparsity=0.5, begin_step=0,
                           end_step=10, frequency=-5), ValueError, "frequency"),
    (OneShot, dict(target_sparsity=0.5, step=-1), ValueError, "step"),
    (OneShot, dict(target_sparsity=1.5), ValueError, "target_sparsity"),
])
def test_validators_name_the_bad_argument(cls, kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        cls(**kwargs)
    bad_value = kwargs[match]
    assert str(bad_value) in str(info.value)


def test_unknown_name_lists_close_matches():
    with pytest.raises(ArgumentError, match="did you mean PolynomialDecay"):
        get_schedule("PolynomalDecay", initial_sparsity=0.0, final_sparsity=0.5,
                     begin_step=0, end_step=10)


def test_names_ignore_case_and_separators():
    expected = PolynomialDecay(0.0, 0.5, begin_step=0, end_step=10)
    built = get_schedule("polynomial_decay", initial_sparsity=0.0, final_sparsity=0.5,
                         begin_step=0, end_step=10)
    assert built == expected


@pytest.mark.parametrize("config, match", [
    ({"target_sparsity": 0.5, "stepp": 3}, r"unknown keys \['stepp'\]"),
    ({"step": 3}, r"missing keys \['target_sparsity'\]"),
])
def test_bad_config_keys_are_named(config, match):
    with pytest.raises(ArgumentError, match=match):
        get_schedule("OneShot", **config)


@pytest.mark.parametrize("bad", [
    {"config": {"target_sparsity": 0.5}},
    {"class_name": "OneShot", "config": {"target_sparsity": 0.5}, "extra": 1},
    "OneShot",
])
def test_from_dict_rejects_malformed_dicts(bad):
    with pytest.raises(ArgumentError, match="class_name"):
        PruningSchedule.from_dict(bad)


def test_from_dict_on_a_subclass_rejects_another_schedule():
    with pytest.raises(ArgumentTypeError, match="OneShot"):
        ConstantSparsity.from_dict(OneShot(0.5).to_dict())


def test_different_schedule_classes_are_never_equal():
    assert ConstantSparsity(0.5, begin_step=0) != OneShot(0.5, step=0)
    assert ConstantSparsity(0.5, begin_step=0) != "ConstantSparsity"


def test_register_schedule_rejects_duplicates_and_non_schedules():
    with pytest.raises(ArgumentError, match="registered twice"):
        register_schedule(ConstantSparsity)
    with pytest.raises(ArgumentTypeError, match="PruningSchedule subclasses"):
        register_schedule(dict)


def test_a_new_schedule_is_one_decorated_class(monkeypatch):
    monkeypatch.setattr(schedules, "_SCHEDULES", dict(schedules._SCHEDULES))

    @register_schedule
    class EveryStep(PruningSchedule):
        def __init__(self, target_sparsity):
            self.target_sparsity = target_sparsity

        def should_prune(self, step):
            return True

        def sparsity_at(self, step):
            return self.target_sparsity

        def get_config(self):
            return {"target_sparsity": self.target_sparsity}

    assert "EveryStep" in list_schedules()
    s = get_schedule("every_step", target_sparsity=0.25)
    assert PruningSchedule.from_dict(s.to_dict()) == s
    assert s(5) == (True, 0.25)


def test_schedules_import_without_mxnet_or_numpy():
    code = ("import sys; sys.modules['mxnet'] = None; sys.modules['numpy'] = None\n"
            "import deploy.prune as p\n"
            "s = p.get_schedule('ConstantSparsity', target_sparsity=0.5, begin_step=0)\n"
            "assert p.PruningSchedule.from_dict(s.to_dict()) == s\n"
            "print(sorted(p.list_schedules()))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "PolynomialDecay" in result.stdout
