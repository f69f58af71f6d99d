"""The messages that cross a Lambda boundary: what the Check step answers, what each publishing step is
given and answers. The state machine (``statemachine/refresh.asl.json``) carries them as JSON between the
two functions, so each is a TypedDict of JSON values; ``tests/unit/test_messages.py`` holds each to the
fields the state machine selects and to JSON values only.

The ASL reads these names (``$.check.plan``, ``$.item.source``, ``$.staged.status``, ``$.staged.run_id``,
``$.staged.groups``, ``$.staged.error``); renaming one is a change of the state machine too.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class DownloadInfo(TypedDict):
    """What the checker recorded of a download (the file itself is in the raw store)."""

    sha256: str
    size: int
    etag: str | None
    last_modified: str | None


class PlanItem(TypedDict):
    """One file to publish, in the order of the plan: a QPP year (Stage, partitions, Finalize) or the PDC
    score file (IngestPdcFile)."""

    source: Literal["qpp", "pdc"]
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


class StepOutcome(TypedDict, total=False):
    """What a Stage, Finalize or IngestPdcFile step answers; ``status`` says which fields are set:

    - ``staged``: ``run_id``, ``groups`` (the partition groups the state machine fans out over),
      ``rows_rejected``, ``unknown_columns``;
    - ``published``: ``run_id``, ``release_id``, the document counts of the finalize, the final-score check and
      its ``warnings``;
    - ``reconciled``: ``rows_read`` and the reconciliation summary of the PDC file;
    - ``refused``: ``error`` (the file was refused before anything public was written).
    """

    status: Literal["staged", "published", "reconciled", "refused"]
    source: Literal["qpp", "pdc"]
    performance_year: int
    run_id: str | None
    groups: list[int]
    error: str | None
    release_id: str
    rows_read: int
    rows_rejected: int
    docs_written: int
    docs_unchanged: int
    docs_deleted: int
    bytes_written: int
    unknown_columns: list[str]
    final_score_check: dict[str, Any] | None  # core.documents.FinalScoreCheck.as_dict()
    warnings: list[str]
    cms_profile_reconciliation: dict[str, Any] | None  # publishing.reconcile.RECONCILIATION_KEY


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
