"""SAM's conventions for whoever deploys the stack: every parameter says what it is, and samconfig.toml has a
default (dev) and a prod environment that tag every resource and override only parameters the template has."""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).parents[2]


def test_every_parameter_has_a_description():
    parameters = cfn_yaml.load(str(ROOT / "template.yaml"))["Parameters"]
    assert [name for name, spec in parameters.items() if not str(spec.get("Description", "")).strip()] == []


def test_samconfig_has_a_default_and_a_prod_environment_that_tag_their_stacks():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    parameters = cfn_yaml.load(str(ROOT / "template.yaml"))["Parameters"]
    names = set()
    for env in ("default", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        names.add(config[env]["global"]["parameters"]["stack_name"])
        tags = dict(pair.split("=", 1) for pair in shlex.split(deploy["tags"]))
        assert tags == {"project": "mips-profiles", "environment": "dev" if env == "default" else "prod"}
        overrides = dict(pair.split("=", 1) for pair in deploy["parameter_overrides"].split())
        assert set(overrides) <= set(parameters), set(overrides) - set(parameters)
        assert deploy["confirm_changeset"] is True
    assert len(names) == 2  # two environments never share a stack


def test_the_operations_dashboard_shows_every_alarm_and_only_metrics_the_code_emits():
    """The dashboard body is JSON once CloudFormation substitutes it; it lists every alarm of the template, and
    every MipsProfiles metric it draws is one a handler or the state machine emits (a renamed metric would
    leave an empty graph that looks like a quiet day)."""
    import json
    import re

    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    resources = template["Resources"]
    body, variables = resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    conditional = variables["CdnAlarms"]["Fn::If"][1]["Fn::Sub"]  # the CDN's alarms, where CloudFront has metrics
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "X", body.replace("${CdnAlarms}", conditional)))
    alarms = {name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    drawn = {a for w in dashboard["widgets"] if w["type"] == "alarm" for a in w["properties"]["alarms"]}
    everything = body + conditional
    assert drawn == {"X"} and everything.count(".Arn}") == len(alarms)
    assert all(f"${{{name}.Arn}}" in everything for name in alarms)
    conditional_alarms = {n for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm" and "Condition" in r}
    assert {n for n in alarms if f"${{{n}.Arn}}" in conditional} == conditional_alarms
    emitted = set()
    for app in ("check_release", "shard_scores"):
        emitted |= set(re.findall(r'name="(\w+)"', (ROOT / "functions" / app / "app.py").read_text()))
    emitted |= set(re.findall(r'"MetricName": "(\w+)"', (ROOT / "statemachine" / "refresh.asl.json").read_text()))
    emitted |= {"ColdStart", "YearsChecked"}  # Powertools' cold start; the checker's single_metric per decision
    names = set()
    for widget in dashboard["widgets"]:
        metrics = widget["properties"].get("metrics", [])
        namespace = None
        for row in metrics:
            parts = [p for p in row if isinstance(p, str)]
            if parts[0] != "...":
                namespace = parts[0] if parts[0] != "." else namespace
                if namespace == "MipsProfiles":
                    names.add(parts[1])
    assert names and names <= emitted, names - emitted
