"""One road: the local refresh (the CLI's ``refresh``, the demo, most tests) runs the state machine's own steps.
``orchestration/refresh.py`` only drives them; a step written there a second time fails here."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from mips_profiles.orchestration import refresh, run_steps

ROOT = Path(refresh.__file__).parents[3]
ASL = json.loads((ROOT / "statemachine" / "refresh.asl.json").read_text())

# What the driver may call besides the steps: building its report, and the request/answer types.
DRIVING = {"CheckRequest.from_event", "RunSteps", "NoCdn", "YearOutcome", "RefreshReport", "_report", "self._publish"}
BUILTINS = {"int", "sorted", "zip", "all", "str", "len", "field", "isinstance"}
DATA = {"get", "items", "values", "update", "append", "as_dict"}  # reading and assembling the answers, on local values


def allowed(name: str) -> bool:
    receiver, _, method = name.rpartition(".")
    if name in DRIVING | BUILTINS | {"check_for_releases"}:
        return True
    return method in DATA and bool(receiver) and (not receiver.startswith("self.") or receiver == "self.publish")


def asl_actions(node: object) -> set[str]:
    """Every ``action`` a Task of the state machine passes to the publishing Lambda."""
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("action"), str):
            found.add(node["action"])
        for value in node.values():
            found |= asl_actions(value)
    elif isinstance(node, list):
        for value in node:
            found |= asl_actions(value)
    return found


def called(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            names.append(ast.unparse(node.func))
    return names


def test_the_local_refresh_calls_only_the_state_machines_steps():
    tree = ast.parse(Path(refresh.__file__).read_text())
    steps_called = set()
    other = set()
    for name in called(tree):
        if name.startswith("self.steps."):
            steps_called.add(name.removeprefix("self.steps."))
        elif not allowed(name):
            other.add(name)
    assert not other, f"refresh.py calls {sorted(other)}: a step's work belongs in run_steps.py or release_check.py"
    assert steps_called == asl_actions(ASL), "the local road runs exactly the publishing steps the state machine runs"
    assert "check_for_releases" in called(tree)


def test_every_step_the_state_machine_names_is_a_run_steps_method_the_lambda_table_routes():
    from importlib import util

    spec = util.spec_from_file_location("shard_scores_app_for_test", ROOT / "functions" / "shard_scores" / "app.py")
    assert spec and spec.loader
    source = Path(spec.origin or "").read_text()
    table = ast.parse(source)
    routed = {
        key.value
        for node in ast.walk(table)
        if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == "STEPS" and isinstance(node.value, ast.Dict)
        for key in node.value.keys
        if isinstance(key, ast.Constant)
    }
    assert routed == asl_actions(ASL)
    assert all(callable(getattr(run_steps.RunSteps, action, None)) for action in routed)


def test_the_guard_sees_a_step_written_into_the_driver():
    """The check above is not vacuous: a driver that writes state itself is caught."""
    tree = ast.parse("def run(self):\n    self.state.put('qpp', 2024, {})\n    self.steps.stage(item)\n")
    names = called(tree)
    assert "self.state.put" in names and "self.steps.stage" in names
    assert [n for n in names if not n.startswith("self.steps.") and not allowed(n)] == ["self.state.put"]
