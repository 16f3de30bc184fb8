"""The pure core never pulls in boto3, and the layer ships what the package declares."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from tests.support.paths import ROOT

PURE_MODULES = [
    "chainpress.model",
    "chainpress.settings",
    "chainpress.ports",
    "chainpress_dev.memory",
    "chainpress.content",
    "chainpress.markdown",
    "chainpress.render",
    "chainpress.site",
    "chainpress.publishing",
    "chainpress.pages",
    "chainpress.sitemaps",
    "chainpress.feeds",
    "chainpress.rebuilding",
    "chainpress.rerender",
    "chainpress.views",
    "chainpress.trending",
]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_core_module_does_not_import_aws_sdk(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'boto3', 'botocore'}"
        " or m.startswith('chainpress.aws'))\n"
        "print(','.join(bad))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "", f"{module} imports AWS code: {done.stdout.strip()}"


def test_layer_requirements_match_declared_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (ROOT / "layers/chainpress/requirements.txt").read_text().splitlines()
    shipped = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert sorted(shipped, key=str.lower) == sorted(declared, key=str.lower)
