"""A refresh on one machine (the CLI's ``refresh`` and the demo): the state machine's own steps, in its order,
through the local adapters. Nothing here checks, downloads, publishes or records: the Check step is
``release_check.check_for_releases`` and every publishing step a ``RunSteps`` method, exactly as the two
Lambdas run them; only the driving is local (``statemachine/refresh.asl.json`` drives them on AWS):

    Check -> for each plan item, in order: Stage -> PublishPartition (each group) -> Finalize
                                         or IngestPdcFile
          -> RecordCheckDates

A year whose download or file is refused leaves its tree and state untouched; the other years go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..adapters.cloudfront import NoCdn
from ..adapters.http import HttpClient
from ..ports import BlobStore, StateStore
from ..publishing.publish import Publisher
from ..publishing.reconcile import RECONCILIATION_KEY
from .messages import PlanItem, PublishedOutcome, StepOutcome, YearDecision
from .release_check import CheckRequest, check_for_releases
from .run_steps import RunSteps

__all__ = ["RECONCILIATION_KEY", "RefreshReport", "Refresher", "YearOutcome"]

COUNTS = ("rows_read", "rows_rejected", "docs_written", "docs_unchanged", "docs_deleted")


@dataclass
class YearOutcome:
    """One year (or the PDC file) of a refresh: what the Check step decided and, if it was published, what the
    Finalize (or IngestPdcFile) step answered."""

    source: str
    performance_year: int
    decision: str
    reason: str
    publish: StepOutcome | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def published(self) -> PublishedOutcome | None:
        """The Finalize step's answer, if this year was published."""
        if self.publish is not None and self.publish["status"] == "published":
            return self.publish
        return None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decision": self.decision, "reason": self.reason}
        p = self.published
        if p is not None:
            out.update({name: p[name] for name in COUNTS})  # type: ignore[literal-required]
            out["release_id"] = p["release_id"]
            out["unknown_columns"] = p["unknown_columns"]
            out["final_score_check"] = p["final_score_check"]
            if p["warnings"]:
                out["warnings"] = p["warnings"]
        if self.error:
            out["error"] = self.error
        out.update(self.extra)
        return out


@dataclass
class RefreshReport:
    outcomes: list[YearOutcome]

    @property
    def ok(self) -> bool:
        return all(o.decision != "failed" for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        qpp = {str(o.performance_year): o.as_dict() for o in self.outcomes if o.source == "qpp"}
        pdc = {str(o.performance_year): o.as_dict() for o in self.outcomes if o.source == "pdc"}
        return {"ok": self.ok, "years": qpp, "pdc": pdc}


class Refresher:
    """The state machine's run, driven locally: the raw store is the private store, one partition."""

    def __init__(
        self,
        http: HttpClient,
        publisher: Publisher,
        state: StateStore,
        *,
        raw: BlobStore,
        hash_check: bool = True,
        work_dir: str | None = None,
    ) -> None:
        self.http = http
        self.publisher = publisher
        self.state = state
        self.raw = raw  # where a Check archives the file it downloaded (locally: the private store)
        self.hash_check = hash_check
        self.work_dir = work_dir
        self.steps = RunSteps(publisher, raw=raw, state=state, cdn=NoCdn(), partitions=1, work_dir=work_dir)

    def run(
        self,
        catalog_url: str,
        pdc_url: str | None,
        *,
        performance_year: int | None = None,
        force: bool = False,
    ) -> RefreshReport:
        request = CheckRequest.from_event(
            {"performance_year": performance_year, "force": force} if performance_year is not None else {"force": force}
        )
        answer = check_for_releases(
            request,
            http=self.http,
            state=self.state,
            raw=self.raw,
            catalog_url=catalog_url,
            work_dir=self.work_dir,
            pdc_url=pdc_url,
            hash_check=self.hash_check,
        )
        published = [self._publish(item) for item in answer["plan"]]  # PublishPlan: one item at a time
        self.steps.record_check_dates(answer["checked"], published)
        return _report(answer["years"], answer["pdc"], answer["plan"], published)

    def _publish(self, item: PlanItem) -> StepOutcome:
        """One plan item as the state machine's PublishPlan iteration runs it."""
        if item["source"] == "pdc":
            return self.steps.ingest_pdc(item)
        staged = self.steps.stage(item)
        if staged["status"] == "refused":  # the ASL's YearRefused: nothing of this year changed
            return staged
        run_id = staged["run_id"]
        assert run_id is not None
        for group in staged["groups"]:
            self.steps.publish_partition(run_id, group)
        return self.steps.finalize(run_id, item)


def _report(
    years: dict[str, YearDecision], pdc: YearDecision | None, plan: list[PlanItem], published: list[StepOutcome]
) -> RefreshReport:
    """The Check step's decisions with what each published item's step answered, as the CLI reports them."""
    answered: dict[tuple[str, int], StepOutcome] = {
        (item["source"], int(item["release"]["performance_year"])): o for item, o in zip(plan, published, strict=True)
    }
    outcomes = []
    decided = [("qpp", int(year), d) for year, d in years.items()]
    if pdc:
        decided.append(("pdc", int(pdc.get("performance_year") or 0), pdc))
    for source, year, decision in sorted(decided, key=lambda d: (d[0] != "qpp", d[1])):
        outcome = YearOutcome(source, year, decision["decision"], decision.get("reason", ""))
        if decision["decision"] == "failed":
            outcome.reason = decision.get("reason") or "download"
            outcome.error = decision.get("error")
        step = answered.get((source, year))
        if step is not None and step["status"] == "refused":
            outcome.decision, outcome.error = "failed", step["error"]
        elif step is not None:
            outcome.publish = step
            if step["status"] in ("published", "reconciled") and step.get("cms_profile_reconciliation"):
                outcome.extra[RECONCILIATION_KEY] = step.get("cms_profile_reconciliation")
            if step["status"] == "reconciled":
                outcome.extra.update({"rows_read": step["rows_read"], "rows_skipped": step["rows_skipped"]})
        outcomes.append(outcome)
    return RefreshReport(outcomes)
