"""The Nu Html Checker (vnu.jar, the W3C's validator) over generated pages.

``make test`` installs it (tools/install-test-deps.sh: Debian's Java, npm ``vnu-jar``); the jar's
path can be overridden with ``VNU_JAR``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.support.paths import ROOT

DEFAULT_JAR = ROOT / ".tools" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def vnu_jar() -> Path:
    jar = Path(os.environ.get("VNU_JAR", DEFAULT_JAR))
    java = shutil.which("java")
    if not jar.is_file() or java is None:
        raise AssertionError(
            f"the Nu Html Checker is not installed ({jar}, java: {java}): run "
            "tools/install-test-deps.sh (make test runs it)"
        )
    return jar


def html_errors(pages: Sequence[Path]) -> list[str]:
    """Every error the checker reports, as ``file:line: message`` (empty: all pages valid)."""
    if not pages:
        return []
    done = subprocess.run(
        ["java", "-jar", str(vnu_jar()), "--errors-only", "--format", "json", *map(str, pages)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    # vnu writes its JSON report to stderr and exits 1 when it found errors.
    report = json.loads(done.stderr or done.stdout)
    return [
        f"{message.get('url', '').removeprefix('file:')}:{message.get('lastLine', '?')}: "
        f"{message.get('message', '')}"
        for message in report.get("messages", [])
        if message.get("type") in ("error", "non-document-error")
    ]
