"""One local stack for the end-to-end and browser tests: ``python -m chainpress_dev.local.stack`` in
a subprocess (its own process environment, as ``make dev`` runs it), on free ports, publishing a
temporary copy of the sample site so that the tests may edit the watched folder."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support.paths import ROOT
from tests.unit.test_indexnow import Endpoint

SAMPLE = ROOT / "samples" / "blockchain-circle"
READY = "chainpress local stack ready"
INDEXNOW_KEY = "local-stack-indexnow"
START_TIMEOUT = 240  # seconds; a cold CI machine is slower than a laptop
# The views function does not count script user agents: the tests are a reader's browser.
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclasses.dataclass
class RunningStack:
    site_url: str
    endpoint_url: str
    content_dir: Path
    output: list[str]
    content_bucket: str = "chainpress-content"
    site_bucket: str = "chainpress-site"
    # What the stack's IndexNow stand-in received (one dict per POST).
    indexnow: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        request = urllib.request.Request(
            self.site_url + path, data=body, method=method, headers={"User-Agent": BROWSER_UA}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return Response(answer.status, dict(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers.items()), error.read())

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def remove(self, key: str, page: str, timeout: float = 120) -> None:
        """Delete an upload a test made and wait until its page is gone and no listing page
        links it: the tests after it find the sample site as it was."""
        self.s3().delete_object(Bucket=self.content_bucket, Key=key)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get(page).status == 404 and not self._listed(page):
                return
            time.sleep(0.5)
        pytest.fail(f"{key} was deleted, but {page} is still served or listed")

    def _listed(self, page: str) -> bool:
        """Whether the home page, or a page its pager reaches, has a card linking ``page``."""
        seen: set[str] = set()
        todo = ["/"]
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            text = self.get(path).text
            if f'class="card-title"><a href="{page}"' in text:
                return True
            todo += re.findall(r'href="(/page/\d+/)"', text)
        return False

    def s3(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 3}),
        )


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    content = tmp_path_factory.mktemp("content") / "blockchain-circle"
    shutil.copytree(SAMPLE, content)
    port, aws_port = free_port(), free_port()
    indexnow = Endpoint()  # the IndexNow endpoint's local stand-in
    env = {
        **os.environ,
        "PORT": str(port),
        "AWS_PORT": str(aws_port),
        "CONTENT_DIR": str(content),
        "PYTHONUNBUFFERED": "1",
        "INDEXNOW_KEY": INDEXNOW_KEY,
        "INDEXNOW_ENDPOINT": indexnow.url,
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    process = subprocess.Popen(
        # A scheduled run every hour: only the one at start happens during the tests, so
        # timings do not depend on when a run falls.
        [sys.executable, "-m", "chainpress_dev.local.stack", "--trending-interval", "3600"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            if READY in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.wait(0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            reader.join(timeout=5)
            pytest.fail("local stack did not start:\n" + "\n".join(output[-60:]))
    stack = RunningStack(
        site_url=f"http://127.0.0.1:{port}",
        endpoint_url=f"http://127.0.0.1:{aws_port}",
        content_dir=content,
        output=output,
        indexnow=indexnow.requests,
    )
    try:
        yield stack
    finally:
        indexnow.server.shutdown()
        indexnow.server.server_close()
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        reader.join(timeout=5)
        assert code == 0, "local stack did not stop cleanly:\n" + "\n".join(output[-40:])
