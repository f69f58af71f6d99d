"""The messages that cross a Lambda boundary: what the Check step answers, what each publishing step is
given and answers. The state machine (``statemachine/refresh.asl.json``) carries them as JSON between the
two functions, so each is a TypedDict of JSON values; ``tests/unit/test_messages.py`` holds each to the
fields the state machine selects and to JSON values only.

The ASL reads these names (``$.check.plan``, ``$.item.source``, ``$.staged.status``, ``$.staged.run_id``,
``$.staged.groups``, ``$.staged.error``); renaming one is a change of the state machine too.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypedDict, cast

from ..core.catalog import MAX_TEXT  # a reason, a title, a CMS date: a sentence at most
from ..core.years import SUPPORTED_YEARS
from ..errors import InvalidInput
from ..keys import raw_key
from ..text import printable


class DownloadInfo(TypedDict):
    """What the checker recorded of a download (the file itself is in the raw store)."""

    sha256: str
    size: int
    etag: str | None
    last_modified: str | None


Source = Literal["qpp", "pdc"]
"""Where a file comes from: the QPP Experience dataset (one file per performance year) or the PDC score file."""


class PlanItem(TypedDict):
    """One file to publish, in the order of the plan: a QPP year (Stage, partitions, Finalize) or the PDC
    score file (IngestPdcFile)."""

    source: Source
    raw_key: str
    decision: str
    reason: str
    release: dict[str, Any]  # core.catalog.Release.to_dict()
    download: DownloadInfo


class YearDecision(TypedDict, total=False):
    performance_year: int
    decision: str
    reason: str
    error: str


class CheckAnswer(TypedDict):
    """The Check step's answer: the plan the state machine maps over, and what was decided per year."""

    status: Literal["publishing", "unchanged"]
    years: dict[str, YearDecision]
    pdc: YearDecision | None
    plan: list[PlanItem]
    checked: list[int]


class StagedOutcome(TypedDict):
    """Stage: the file was read, validated and staged; the state machine fans out over ``groups``."""

    status: Literal["staged"]
    source: Literal["qpp"]
    performance_year: int
    run_id: str
    groups: list[int]
    rows_rejected: int
    unknown_columns: list[str]
    error: None


class PublishedOutcome(TypedDict):
    """Finalize: the year is published; the document counts, the final-score check and its warnings."""

    status: Literal["published"]
    source: Literal["qpp"]
    performance_year: int
    run_id: str
    release_id: str
    rows_read: int
    rows_rejected: int
    docs_written: int
    docs_unchanged: int
    docs_deleted: int
    bytes_written: int
    unknown_columns: list[str]
    quarantine_key: str | None  # the private quarantine report of the release, if a row was rejected
    final_score_check: dict[str, Any] | None  # core.documents.FinalScoreCheck.as_dict()
    warnings: list[str]
    cms_profile_reconciliation: dict[str, Any] | None  # publishing.reconcile.RECONCILIATION_KEY


class ReconciledOutcome(TypedDict):
    """IngestPdcFile: the PDC file is kept privately and its year reconciled."""

    status: Literal["reconciled"]
    source: Literal["pdc"]
    performance_year: int
    rows_read: int
    rows_skipped: int  # rows without a valid NPI or score
    cms_profile_reconciliation: dict[str, Any] | None


class RefusedOutcome(TypedDict):
    """Stage or IngestPdcFile: the file was refused before anything public was written."""

    status: Literal["refused"]
    source: Source
    performance_year: int
    run_id: None
    groups: list[int]
    error: str


StepOutcome = StagedOutcome | PublishedOutcome | ReconciledOutcome | RefusedOutcome
"""What a Stage, Finalize or IngestPdcFile step answers: ``status`` says which (a discriminated union)."""


class PartitionOutcome(TypedDict):
    """What one PublishPartitions iteration answers (``publishing.publish.PartitionResult`` as JSON)."""

    group: int
    docs_written: int
    docs_unchanged: int
    docs_deleted: int
    bytes_written: int
    documents: int


class CheckDates(TypedDict):
    touched: list[int]


# -- parsing what crosses the boundary: anyone allowed to start an execution or invoke a function sends these -----

RUN_ID = re.compile(r"^20[0-9]{2}-[0-9a-f]{16}-[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
PUBLISHABLE = ("new", "corrected", "forced")
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "stage": ("item",),
    "publish_partition": ("run_id", "group"),
    "finalize": ("run_id", "item"),
    "ingest_pdc": ("item",),
    "record_check_dates": ("checked", "outcomes"),
    "selftest": (),
    "repair": (),
}
MAX_GROUPS = 64  # template.yaml's Partitions allows 1-64


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def _only(obj: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"unknown field {printable(unknown[0], 60)!r} in {where} (expected {', '.join(allowed) or 'none'})"
        )


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidInput(f"{where} must be a whole number from {lo} to {hi}, got {printable(repr(value), 60)}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{where} must be true or false, got {printable(repr(value), 60)}")
    return value


def _text(value: Any, where: str, *, optional: bool = False, pattern: re.Pattern[str] | None = None) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT or printable(value) != value:
        raise InvalidInput(
            f"{where} must be text of at most {MAX_TEXT} printable characters, got {printable(repr(value), 60)}"
        )
    if pattern is not None and not pattern.match(value):
        raise InvalidInput(f"{where} is not of the expected form: {printable(repr(value), 80)}")
    return value


def year_of(value: Any, where: str = "performance_year") -> int:
    """A performance year the methodology supports."""
    return _int(value, where, SUPPORTED_YEARS[0], SUPPORTED_YEARS[-1])


def parse_run_request(event: Any) -> tuple[int | None, bool, str | None]:
    """The execution input: the schedule's (``source: schedule``) or a manual request
    ``{"performance_year": YYYY, "force": true, "reason": "..."}``; (year, force, reason)."""
    request = _object(event, "the run request")
    if request.get("source") == "schedule":
        _only(request, ("source", "scheduled_time", "execution_id", "reason"), "the scheduled run request")
        for name in ("scheduled_time", "execution_id"):
            _text(request.get(name), name, optional=True)
        return None, False, _text(request.get("reason"), "reason", optional=True)
    _only(request, ("performance_year", "force", "reason"), "the run request")
    year = None if request.get("performance_year") is None else year_of(request["performance_year"])
    force = _bool(request.get("force", False), "force")
    if force and year is None:
        raise InvalidInput("force needs performance_year: a forced re-run is for one named year")
    return year, force, _text(request.get("reason"), "reason", optional=True)


def parse_plan_item(value: Any, where: str = "item") -> PlanItem:
    """A plan item as the Check step makes it; its raw key must be the one its source, year and SHA-256 name."""
    item = _object(value, where)
    _only(item, ("source", "raw_key", "decision", "reason", "release", "download"), where)
    source = item.get("source")
    if source not in ("qpp", "pdc"):
        raise InvalidInput(f"{where}.source must be qpp or pdc, got {printable(repr(source), 40)}")
    release = _object(item.get("release"), f"{where}.release")
    _only(release, ("source", "performance_year", "modified", "download_url", "api_uuid", "title"), f"{where}.release")
    year = year_of(release.get("performance_year"), f"{where}.release.performance_year")
    if release.get("source", source) != source:
        raise InvalidInput(f"{where}.release.source is not {where}.source")
    for name in ("modified", "api_uuid", "title"):
        _text(release.get(name), f"{where}.release.{name}", optional=True)
    _text(release.get("download_url"), f"{where}.release.download_url")
    download = _object(item.get("download"), f"{where}.download")
    _only(download, ("sha256", "size", "etag", "last_modified"), f"{where}.download")
    sha256 = _text(download.get("sha256"), f"{where}.download.sha256", pattern=SHA256)
    _int(download.get("size"), f"{where}.download.size", 0, 1 << 40)
    for name in ("etag", "last_modified"):
        _text(download.get(name), f"{where}.download.{name}", optional=True)
    if item.get("decision") not in PUBLISHABLE:
        raise InvalidInput(f"{where}.decision must be one of {', '.join(PUBLISHABLE)}")
    _text(item.get("reason"), f"{where}.reason")
    if item.get("raw_key") != raw_key(source, year, sha256):
        raise InvalidInput(
            f"{where}.raw_key must be {raw_key(source, year, sha256)!r} (its source, year and SHA-256), "
            f"got {printable(repr(item.get('raw_key')), 120)}"
        )
    return cast(PlanItem, item)


# Step Functions' own rule for an execution name (StartExecution's ``name``): 1-80 characters, none of white
# space, brackets < > { } [ ], wildcards ? *, " # % \\ ^ | ~ ` $ & , ; : / or a control character
# (U+0000-001F, U+007F-009F). Non-ASCII letters are allowed. The one rule: Check refuses a name the publishing
# steps would refuse before anything is downloaded, and both accept every name Step Functions starts.
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
EXECUTION_NAME_FORBIDDEN = re.compile(r'[\s<>{}\[\]?*"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]')


def parse_execution_name(value: Any, where: str = "run") -> str:
    """An execution name as Step Functions accepts it, or InvalidInput naming ``where``."""
    if not isinstance(value, str) or not 1 <= len(value) <= 80 or EXECUTION_NAME_FORBIDDEN.search(value):
        raise InvalidInput(
            f"{where} must be a Step Functions execution name (1-80 characters; no white space, brackets, "
            f'wildcards, control characters or any of " # % \\ ^ | ~ ` $ & , ; : /), got {printable(repr(value), 100)}'
        )
    return value


def parse_check_event(event: Any) -> tuple[dict[str, Any], str | None]:
    """The Check step's event, ``{"request": <the execution input>, "run": <the execution name>}``: the request
    (still to be parsed by ``parse_run_request``) and the name. Anything else (a list, ``false``, an unwrapped
    request, a missing request) is refused by name, never read as a scheduled check of every year."""
    body = _object(event, "the Check event")
    _only(body, ("request", "run"), "the Check event")
    if "request" not in body:
        raise InvalidInput('the Check event must carry "request" (the execution input), as the state machine sends it')
    request = _object(body["request"], "the Check event's request")
    run = None if body.get("run") is None else parse_execution_name(body["run"])
    return request, run


def parse_step_event(event: Any) -> dict[str, Any]:
    """A shard-function event: its ``action`` and exactly that action's fields, each of its type."""
    body = _object(event, "the event")
    action = body.get("action")
    if action not in STEP_FIELDS:
        raise InvalidInput(f"unknown action {printable(repr(action), 60)}: expected one of {', '.join(STEP_FIELDS)}")
    _only(body, ("action", "run", *STEP_FIELDS[action]), f"the {action} event")
    out: dict[str, Any] = {"action": action}
    if body.get("run") is not None:  # the execution name, the steps' correlation id (absent when invoked by hand)
        out["run"] = parse_execution_name(body.get("run"))
    if "item" in STEP_FIELDS[action]:
        out["item"] = parse_plan_item(body.get("item"))
    if "run_id" in STEP_FIELDS[action]:
        out["run_id"] = _text(body.get("run_id"), "run_id", pattern=RUN_ID)
    if "group" in STEP_FIELDS[action]:
        out["group"] = _int(body.get("group"), "group", 0, MAX_GROUPS - 1)
    if action == "record_check_dates":
        checked = body.get("checked")
        if not isinstance(checked, list) or len(checked) > len(SUPPORTED_YEARS):
            raise InvalidInput(f"checked must be a list of at most {len(SUPPORTED_YEARS)} performance years")
        out["checked"] = [year_of(y, "checked[]") for y in checked]
        outcomes = body.get("outcomes")
        if not isinstance(outcomes, list) or len(outcomes) > 2 * len(SUPPORTED_YEARS):
            raise InvalidInput("outcomes must be a list of the plan's step outcomes")
        out["outcomes"] = [_outcome(o) for o in outcomes]
    return out


def _outcome(value: Any) -> StepOutcome:
    outcome = _object(value, "an outcome")
    if outcome.get("source") not in ("qpp", "pdc"):
        raise InvalidInput("an outcome's source must be qpp or pdc")
    if outcome.get("status") not in ("staged", "published", "reconciled", "refused"):
        raise InvalidInput("an outcome's status must be staged, published, reconciled or refused")
    year_of(outcome.get("performance_year"), "an outcome's performance_year")
    return cast(StepOutcome, outcome)
