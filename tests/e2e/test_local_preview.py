"""``make dev`` serves signed draft previews (the session's local stack, a subprocess publishing
the sample site): the sample draft's report names its preview, which opens with noindex and a
private Cache-Control; an editor's new draft gets one too, with the link check's warnings in the
same report, and it is gone once the article is published."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.e2e.conftest import RunningStack

SAMPLE_DRAFT = "articles/2025/draft-layer2-fee-survey.md"
DEADLINE = 10.0


def report(stack: RunningStack, key: str) -> dict[str, Any] | None:
    s3 = stack.s3()
    try:
        obj = s3.get_object(Bucket=stack.content_bucket, Key=f"_status/{key}.json")
    except s3.exceptions.NoSuchKey:
        return None
    data: dict[str, Any] = json.loads(obj["Body"].read())
    return data


def report_with(stack: RunningStack, key: str, version: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = report(stack, key)
        if found is not None and found["version_id"] == version:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no report for {key} version {version} within {DEADLINE} s")


def test_the_sample_draft_has_a_preview_that_opens_noindex(local_stack: RunningStack) -> None:
    draft = report(local_stack, SAMPLE_DRAFT)
    assert draft is not None
    assert draft["status"] == "draft"
    url = draft["preview_url"]
    page = local_stack.get(url)
    assert page.status == 200
    assert '<meta name="robots" content="noindex, nofollow, noarchive">' in page.text
    assert page.headers["X-Robots-Tag"] == "noindex, nofollow, noarchive"
    assert page.headers["Cache-Control"] == "private, no-store, max-age=0"
    assert url not in local_stack.get("/").text
    assert url not in local_stack.get("/sitemap.xml").text
    # The console line an editor reads names it.
    assert any(f"preview: {local_stack.site_url}{url}" in line for line in local_stack.output)
    # A forged or expired link is refused at the edge (PreviewRequestFunction's check).
    assert local_stack.get(f"/preview/{int(time.time()) - 1}-{'0' * 32}/").status == 410


def test_a_new_draft_previews_with_link_warnings_and_goes_when_published(
    local_stack: RunningStack,
) -> None:
    s3 = local_stack.s3()
    tag = uuid.uuid4().hex[:8]
    key = f"articles/e2e/preview-{tag}.md"
    source = (
        f"---\ntitle: Embargoed {tag}\ndate: 2024-05-01 10:00\n"
        "draft: true\n---\n\nThe numbers are **embargoed**.\n\nSee [the chart](/media/nope.png).\n"
    )
    put = s3.put_object(Bucket=local_stack.content_bucket, Key=key, Body=source.encode())
    draft = report_with(local_stack, key, put["VersionId"])
    assert draft["status"] == "draft"
    missing = "broken link /media/nope.png: no file media/nope.png in media/"
    assert draft["warnings"] == [{"line": 9, "message": missing}]
    page = local_stack.get(draft["preview_url"])
    assert page.status == 200
    assert "The numbers are <strong>embargoed</strong>." in page.text
    assert local_stack.get(f"/articles/preview-{tag}/").status == 404

    live = source.replace("draft: true\n", "")
    put = s3.put_object(Bucket=local_stack.content_bucket, Key=key, Body=live.encode())
    published = report_with(local_stack, key, put["VersionId"])
    assert published["status"] == "published"
    assert "preview_url" not in published
    assert local_stack.get(draft["preview_url"]).status == 404
    assert local_stack.get(f"/articles/preview-{tag}/").status == 200
    local_stack.remove(key, f"/articles/preview-{tag}/")  # leave the sample site as it was
