"""The npm package in web/ as `npm pack` ships it: both builds, the types generated from openapi.yaml (and
checked by tsc), custom-elements.json and the license, one version everywhere."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fixtures.browser import install_packed

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
NPM = shutil.which("npm")
BIN = WEB / "node_modules" / ".bin"


@pytest.fixture(scope="module", autouse=True)
def tools():
    if not NPM or not (BIN / "openapi-typescript").exists():
        pytest.fail("web/node_modules is missing: make test runs npm ci --prefix web")


def test_npm_pack_ships_both_builds_the_types_the_manifest_and_the_license():
    done = subprocess.run([NPM, "pack", "--dry-run", "--json"], cwd=WEB, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    files = sorted(f["path"] for f in json.loads(done.stdout)[0]["files"])
    assert files == sorted(
        [
            "LICENSE",
            "README.md",
            "custom-elements.json",
            "mips-score-card.js",
            "mips-score-card.mjs",
            "package.json",
            "types/api.d.ts",
            "types/index.d.ts",
        ]
    )
    package = json.loads((WEB / "package.json").read_text())
    assert package["exports"]["."] == {
        "types": "./types/index.d.ts",
        "import": "./mips-score-card.mjs",
        "default": "./mips-score-card.js",
    }
    version = re.search(r'var VERSION = "([^"]+)";', (WEB / "mips-score-card.mjs").read_text()).group(1)
    assert package["version"] == version
    assert (WEB / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()


def test_the_api_types_are_generated_from_the_committed_openapi_description():
    done = subprocess.run(
        [str(BIN / "openapi-typescript"), str(ROOT / "openapi.yaml")], cwd=WEB, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (WEB / "types" / "api.d.ts").read_text() == done.stdout, "run: npm run types --prefix web"


def test_the_declarations_type_check_strictly():
    done = subprocess.run(
        [str(BIN / "tsc"), "--noEmit", "--strict", "--lib", "es2020,dom", "types/index.d.ts"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


CONSUMER = """\
import "@mips-profiles/score-card";
import type { CardStateDetail, Manifest, ProfileDocument } from "@mips-profiles/score-card";
export const latest = (doc: ProfileDocument): number | null => doc.latest.final_score;
export const years = (manifest: Manifest): number => manifest.releases.length;
export type State = CardStateDetail;
"""


@pytest.fixture(scope="module")
def consumer(tmp_path_factory) -> Path:
    """A blank ES-module project with the packed package installed as npm would (the tarball's files only)."""
    project = tmp_path_factory.mktemp("consumer")
    install_packed(project)
    (project / "package.json").write_text('{"type": "module"}')
    (project / "consumer.ts").write_text(CONSUMER)
    return project


@pytest.mark.parametrize(
    ("resolution", "module"), [("nodenext", "nodenext"), ("node16", "node16"), ("bundler", "esnext")]
)
def test_a_consumer_compiles_against_the_packed_types(resolution, module, consumer):
    """With skipLibCheck off, as a strict front-end toolchain runs: a relative import without its extension in the
    package's declarations is error TS2834 under NodeNext and Node16."""
    done = subprocess.run(
        [
            str(BIN / "tsc"),
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "false",
            "--lib",
            "es2022,dom",
            "--module",
            module,
            "--moduleResolution",
            resolution,
            "consumer.ts",
        ],
        cwd=consumer,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
