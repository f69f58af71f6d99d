"""Whoever may start an execution or invoke a function sends these: each is parsed into its type or refused with
one line naming the field. Nothing is coerced: ``"false"`` is not a boolean, 2023.9 is not a year, an unknown
field (``performanceYear``) is not silently dropped into a check of every year."""

from __future__ import annotations

import json

import pytest

from mips_profiles.adapters.local_state import LocalStateStore
from mips_profiles.errors import InvalidInput
from mips_profiles.keys import raw_key
from mips_profiles.orchestration.execution_names import execution_name
from mips_profiles.orchestration.messages import parse_plan_item, parse_run_request, parse_step_event
from mips_profiles.orchestration.release_check import CheckRequest

SHA = "ab" * 32


def item(**changes: object) -> dict:
    base = {
        "source": "qpp",
        "raw_key": raw_key("qpp", 2024, SHA),
        "decision": "corrected",
        "reason": "CMS modified date changed",
        "release": {"source": "qpp", "performance_year": 2024, "modified": "2025-07-28", "download_url": "https://x"},
        "download": {"sha256": SHA, "size": 10, "etag": None, "last_modified": None},
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"performance_year": 2024, "force": "false"}, "force must be true or false, got 'false'"),
        ({"performance_year": 2024, "force": "no"}, "force must be true or false"),
        ({"performance_year": 2024, "force": 1}, "force must be true or false, got 1"),
        ({"performance_year": 2023.9}, "performance_year must be a whole number from 2017 to 2025, got 2023.9"),
        ({"performance_year": "2024"}, "performance_year must be a whole number"),
        ({"performance_year": True}, "performance_year must be a whole number"),
        ({"performance_year": 10**9}, "performance_year must be a whole number"),
        ({"performance_year": 2031}, "from 2017 to 2025, got 2031"),
        ({"performanceYear": 2024, "force": True}, "unknown field 'performanceYear' in the run request"),
        ({"force": True}, "force needs performance_year"),
        ({"reason": "a\x1b[2Jb"}, "reason must be text of at most 1000 printable characters"),
        ({"reason": "x" * 1001}, "reason must be text"),
        ({"source": "schedule", "extra": 1}, "unknown field 'extra' in the scheduled run request"),
        ([], "the run request must be a JSON object, got list"),
        ("check", "the run request must be a JSON object, got str"),
    ],
)
def test_a_run_request_is_parsed_not_coerced(request_, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_run_request(request_)
    with pytest.raises(InvalidInput):
        execution_name(request_)  # the CLI that names a manual run refuses what the checker would


def test_the_requests_that_do_run_are_read_as_meant():
    scheduled = json.loads(open("events/scheduler.json").read())  # noqa: SIM115
    assert CheckRequest.from_event(scheduled) == CheckRequest(None, False, "scheduled check")
    manual = json.loads(open("events/manual_rerun.json").read())  # noqa: SIM115
    assert CheckRequest.from_event(manual).force is True and CheckRequest.from_event(manual).performance_year == 2024
    assert CheckRequest.from_event({}) == CheckRequest(None, False, "scheduled check")
    assert CheckRequest.from_event({"performance_year": 2024, "force": False}).force is False


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"action": "publish_partition", "run_id": "2024-" + "a" * 16 + "-20251001T000000-abcdef12", "group": True},
            "group must be a whole number from 0 to 63, got True",
        ),
        (
            {"action": "publish_partition", "run_id": "2024-" + "a" * 16 + "-20251001T000000-abcdef12", "group": 1.7},
            "group must be a whole number",
        ),
        (
            {"action": "publish_partition", "run_id": "2024-" + "a" * 16 + "-20251001T000000-abcdef12", "group": -1},
            "group must be a whole number",
        ),
        ({"action": "publish_partition", "run_id": "../../x", "group": 0}, "run_id is not of the expected form"),
        (
            {
                "action": "publish_partition",
                "run_id": "2024-" + "a" * 16 + "-20251001T000000-abcdef12",
                "group": 0,
                "extra": 1,
            },
            "unknown field 'extra' in the publish_partition event",
        ),
        ({"action": "reapir"}, "unknown action 'reapir'"),
        ({"action": "stage", "item": item(raw_key="audit/x")}, "item.raw_key must be"),
        (
            {"action": "stage", "item": item(decision="unchanged")},
            "item.decision must be one of new, corrected, forced",
        ),
        ({"action": "stage", "item": item(source="s3")}, "item.source must be qpp or pdc"),
        ({"action": "stage", "item": item(download={"sha256": "x", "size": 1})}, "item.download.sha256 is not of the"),
        ({"action": "stage", "item": item(download={"sha256": SHA, "size": -1})}, "item.download.size must be"),
        ({"action": "stage", "item": item(extra=1)}, "unknown field 'extra' in item"),
        ({"action": "record_check_dates", "checked": [10**9], "outcomes": []}, "checked\\[\\] must be a whole number"),
        ({"action": "record_check_dates", "checked": [-5], "outcomes": []}, "checked\\[\\] must be a whole number"),
        (
            {"action": "record_check_dates", "checked": [2024], "outcomes": [{"status": "x"}]},
            "an outcome's source must be qpp or pdc",
        ),
        (
            {"action": "record_check_dates", "checked": list(range(2017, 2030)), "outcomes": []},
            "checked must be a list of at most 9",
        ),
        ({"action": "repair", "year": 2024}, "unknown field 'year' in the repair event"),
        ({"action": "record_check_dates", "run": "a b", "checked": [], "outcomes": []}, "run must be a Step Functions"),
        ({"action": "record_check_dates", "run": 7, "checked": [], "outcomes": []}, "run must be a Step Functions"),
        ("stage", "the event must be a JSON object"),
    ],
)
def test_a_step_event_is_parsed_not_coerced(event, message):
    with pytest.raises(InvalidInput, match=message):
        parse_step_event(event)


def test_the_events_the_state_machine_sends_parse():
    run_id = "2024-" + "a" * 16 + "-20251001T000000-abcdef12"
    assert parse_step_event({"action": "stage", "item": item()})["item"]["raw_key"] == raw_key("qpp", 2024, SHA)
    assert parse_step_event({"action": "publish_partition", "run_id": run_id, "group": 7})["group"] == 7
    assert parse_step_event({"action": "finalize", "run_id": run_id, "item": item()})["run_id"] == run_id
    assert parse_step_event({"action": "selftest"}) == {"action": "selftest"}
    outcome = {"status": "refused", "source": "qpp", "performance_year": 2024, "error": "x"}
    assert parse_step_event({"action": "record_check_dates", "checked": [2024], "outcomes": [outcome]})["checked"] == [
        2024
    ]
    assert (
        parse_plan_item(
            item(
                source="pdc",
                raw_key=raw_key("pdc", 2024, SHA),
                release={"source": "pdc", "performance_year": 2024, "download_url": "https://x"},
            )
        )["source"]
        == "pdc"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"releases": {"qpp/2024": {"sha256": "ab', "not JSON"),
        ("[1, 2]", "not a state file this program wrote"),
        ('{"releases": [], "x": 1}', "not a state file this program wrote"),
        ('{"releases": {"qpp/2024": []}}', "record qpp/2024: not a release record"),
        ('{"releases": {"../etc": {}}}', "not a release record"),
        ('{"releases": {"qpp/2024": {"sha256": 5}}}', "sha256 is not text"),
        ('{"releases": {"qpp/2024": {"row_count": "9"}}}', "row_count is not a whole number"),
        ('{"releases": {"qpp/2024": {"mystery": {"deep": [1]}}}}', "mystery is not a plain value"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),
    ],
)
def test_a_state_file_of_another_shape_is_one_line_not_a_traceback(tmp_path, content, message):
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        LocalStateStore(path).get("qpp", 2024)


# Names Step Functions starts an execution under (its StartExecution rule), and names it refuses.
ACCEPTED_NAMES = ["rerun.2024", "run@2024", "manual.2024-correction", "Überprüfung-2024", "a" * 80, "x", "(re)run!"]
REFUSED_NAMES = [
    "a b",
    "a\tb",
    "x/y",
    "a:b",
    "a,b",
    "a;b",
    "a*",
    "a?",
    "[a]",
    "{a}",
    "<a>",
    "a#b",
    "100%",
    'a"b',
    "a\\b",
    "a^b",
    "a|b",
    "a~b",
    "a`b",
    "$a",
    "a&b",
    "a\x01",
    "a\x85",
    "a" * 81,
    "",
    "a\u00a0b",
]


@pytest.mark.parametrize("name", ACCEPTED_NAMES)
def test_a_name_step_functions_accepts_passes_check_and_every_step(name):
    from mips_profiles.orchestration.messages import parse_check_event

    assert parse_check_event({"request": {"reason": "r"}, "run": name}) == ({"reason": "r"}, name)
    assert parse_step_event({"action": "selftest", "run": name})["run"] == name


@pytest.mark.parametrize("name", REFUSED_NAMES)
def test_a_name_step_functions_refuses_is_refused_at_check_before_any_download(name):
    from mips_profiles.orchestration.messages import parse_check_event

    with pytest.raises(InvalidInput, match="run must be a Step Functions execution name"):
        parse_check_event({"request": {"reason": "r"}, "run": name})
    with pytest.raises(InvalidInput, match="run must be a Step Functions execution name"):
        parse_step_event({"action": "selftest", "run": name})


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"request": []}, "the Check event's request must be a JSON object, got list"),
        ({"request": False}, "the Check event's request must be a JSON object, got bool"),
        ({"request": ""}, "the Check event's request must be a JSON object, got str"),
        ({"request": 0}, "the Check event's request must be a JSON object, got int"),
        ({"request": None}, "the Check event's request must be a JSON object, got NoneType"),
        ({"performance_year": 2024, "force": True}, "unknown field 'force' in the Check event"),
        ({}, 'the Check event must carry "request"'),
        ([], "the Check event must be a JSON object"),
    ],
)
def test_a_check_event_is_parsed_never_read_as_a_scheduled_check(event, message):
    from mips_profiles.orchestration.messages import parse_check_event

    with pytest.raises(InvalidInput, match=message):
        parse_check_event(event)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("source_url", "javascript:alert(1)", "the release's source_url is not an http(s) link: 'javascript:alert(1)'"),
        ("source_url", "data:text/html,<b>x</b>", "the release's source_url is not an http(s) link"),
        ("source_url", "../../v1/manifest.json", "the release's source_url is not an http(s) link"),
        ("source_url", "https://data.cms.gov/a b.csv", "the release's source_url is not an http(s) link"),
        ("api_uuid", "../../etc", "the release's api_uuid is not a UUID: '../../etc'"),
        ("api_uuid", "7adb8b1b-b85c-4ed3-b314-064776e5018\n", "the release's api_uuid is not a UUID"),
    ],
)
def test_provenance_given_to_consumers_is_a_link_and_a_uuid_or_refused(field, value, message):
    """Issue 38: a javascript: download_url and a ../ api_uuid were published as the manifest's provenance."""
    from mips_profiles.errors import InvalidInput
    from mips_profiles.publishing.manifest import ReleaseInfo

    with pytest.raises(InvalidInput) as caught:
        ReleaseInfo(2024, **{field: value})
    assert str(caught.value).startswith(message)
    ReleaseInfo(
        2024,
        source_url="https://data.cms.gov/sites/default/files/2025-07/03fd602a/puf_output_file_output.csv",
        api_uuid="7adb8b1b-b85c-4ed3-b314-064776e50180",
    )
    ReleaseInfo(2024, source_url="http://127.0.0.1:35953/x.csv")  # the demo's loopback stand-in
