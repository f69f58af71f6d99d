"""The typed messages (``orchestration/messages.py``) are the ones the state machine passes: every field a
Lambda task of ``statemachine/refresh.asl.json`` selects from an answer is a field of that step's type, and
the plan items the Map hands to Stage, Finalize and IngestPdcFile carry the fields the ASL reads."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from mips_profiles.orchestration import messages
from mips_profiles.orchestration.run_steps import RunSteps

ROOT = Path(__file__).parents[2]
ASL = json.loads((ROOT / "statemachine" / "refresh.asl.json").read_text())

# the Lambda task -> the TypedDict its function answers
ANSWERS = {
    "Check": messages.CheckAnswer,
    "Stage": messages.StagedOutcome | messages.RefusedOutcome,
    "PublishPartition": messages.PartitionOutcome,
    "Finalize": messages.PublishedOutcome,
    "IngestPdcFile": messages.ReconciledOutcome | messages.RefusedOutcome,
    "RecordCheckDates": messages.CheckDates,
}
STEP_OF_ACTION = {
    "stage": "stage",
    "finalize": "finalize",
    "ingest_pdc": "ingest_pdc",
    "record_check_dates": "record_check_dates",
}


def lambda_tasks(states: dict = ASL["States"]) -> dict[str, dict]:
    found = {}
    for name, state in states.items():
        if state.get("Type") == "Task" and "lambda:invoke" in state.get("Resource", ""):
            found[name] = state
        for nested in (state.get("Iterator"), state.get("ItemProcessor")):
            if nested:
                found.update(lambda_tasks(nested["States"]))
    return found


def test_every_lambda_task_of_the_state_machine_has_a_typed_answer():
    assert set(lambda_tasks()) == set(ANSWERS)


def fields_of_every(answer: object) -> set[str]:
    """The fields every kind of an answer has: a ResultSelector path missing from the payload fails the run."""
    kinds = typing.get_args(answer) or (answer,)
    return set.intersection(*(set(typing.get_type_hints(kind)) for kind in kinds))


@pytest.mark.parametrize("task", sorted(ANSWERS))
def test_what_a_task_selects_from_its_answer_is_a_field_of_its_type(task):
    selector = lambda_tasks()[task].get("ResultSelector") or {}
    selected = {path.removeprefix("$.Payload.").split(".")[0] for path in selector.values()}
    assert selected <= fields_of_every(ANSWERS[task]), selected - fields_of_every(ANSWERS[task])


def test_the_step_methods_answer_the_types_the_state_machine_selects_from():
    for task, method in (("Stage", "stage"), ("Finalize", "finalize"), ("IngestPdcFile", "ingest_pdc")):
        assert typing.get_type_hints(getattr(RunSteps, method))["return"] == ANSWERS[task], task


@pytest.mark.parametrize("task", sorted(ANSWERS))
def test_each_task_calls_a_step_the_shard_function_has(task):
    payload = lambda_tasks()[task]["Parameters"].get("Payload", {})
    action = payload.get("action") if isinstance(payload, dict) else None
    if action is not None:
        assert callable(getattr(RunSteps, STEP_OF_ACTION[action]))


def test_the_plan_item_fields_the_state_machine_reads_exist():
    text = json.dumps(ASL)
    item_fields = {part.split(".")[2] for part in text.split('"') if part.startswith("$.item.")}
    assert item_fields and item_fields <= set(typing.get_type_hints(messages.PlanItem))
    staged_fields = {part.split(".")[2] for part in text.split('"') if part.startswith("$.staged.")}
    assert staged_fields <= fields_of_every(ANSWERS["Stage"])


def test_the_messages_are_json_values_only():
    """Nothing a TypedDict declares may be a type json cannot carry (a datetime, a Path, a set, a bytes)."""
    allowed = (str, int, float, bool, type(None), list, dict, typing.Any)

    def check(tp: object, where: str) -> None:
        origin = typing.get_origin(tp)
        if origin is typing.Literal:
            return
        if typing.is_typeddict(tp):
            for name, field in typing.get_type_hints(tp).items():
                check(field, f"{where}.{name}")
            return
        if origin is not None:
            assert origin in (list, dict, typing.Union, __import__("types").UnionType), where
            for arg in typing.get_args(tp):
                check(arg, where)
            return
        assert tp in allowed, f"{where}: {tp}"

    for name in ("CheckAnswer", "PlanItem", "StepOutcome", "PartitionOutcome", "CheckDates"):
        check(getattr(messages, name), name)
