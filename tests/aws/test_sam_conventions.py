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
