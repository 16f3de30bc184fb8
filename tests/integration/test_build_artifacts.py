"""Build the layer and functions the way `sam build` does, then import every handler from the
built artefacts alone (stdlib + layer + function code): catches a dependency the layer lacks."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

FUNCTIONS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sam-build")
    layer = out / "SharedLayer" / "python"
    # BuildMethod python3.x: the ContentUri is copied into python/ and requirements.txt installed.
    shutil.copytree(ROOT / "layers/chainpress", layer, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(layer),
            "-r",
            str(ROOT / "layers/chainpress/requirements.txt"),
        ],
        check=True,
    )
    for name in FUNCTIONS:
        shutil.copytree(
            ROOT / "functions" / name, out / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    return out


@pytest.mark.parametrize("name", FUNCTIONS)
def test_handler_imports_from_built_artifacts_alone(built: Path, name: str) -> None:
    # -S: no site-packages, so nothing from the dev virtualenv can stand in for the layer.
    # Lambda puts the function folder first, then /opt/python (the layer).
    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(built / name)!r}, {str(built / 'SharedLayer' / 'python')!r}]\n"
        "import app\n"
        "assert callable(app.lambda_handler)\n"
        "import chainpress\n"
        f"assert chainpress.__file__.startswith({str(built)!r}), chainpress.__file__\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "chainpress",
        "POWERTOOLS_SERVICE_NAME": name,
    }
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=built,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_function_is_built() -> None:
    assert set(FUNCTIONS) >= {"publish", "rebuild", "views", "trending"}


def test_layer_ships_only_what_lambda_runs(built: Path) -> None:
    package = built / "SharedLayer" / "python" / "chainpress"
    sources = {p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    assert {"publishing.py", "aws/articles.py"} <= sources
    # The local stack, the static-build command and the in-memory fakes are tooling.
    tooling = {s for s in sources if s.startswith("local/") or s in {"cli.py", "memory.py"}}
    assert tooling == set()
    imports_moto = re.compile(r"^\s*(?:import|from)\s+moto\b", re.MULTILINE)
    assert [s for s in sources if imports_moto.search((package / s).read_text())] == []
