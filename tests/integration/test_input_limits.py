"""The input limits against AWS's own (moto): what the limits let through, S3 and DynamoDB take;
what they refuse is an editor's report, never an AWS error retried by Lambda."""

from __future__ import annotations

import hashlib
import json

from chainpress.content import (
    MAX_ALIAS_LENGTH,
    MAX_ALIASES,
    MAX_AUTHOR_LENGTH,
    MAX_SLUG_LENGTH,
    MAX_SUMMARY_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TITLE_LENGTH,
)
from chainpress.publishing import MAX_KEY_BYTES, MAX_SITE_TEXT_BYTES, TOO_LONG_PREFIX
from tests.integration import test_publish
from tests.integration.test_publish import Stack

# The moto stack of the publish tests (fixtures: an empty stack per test).
stack_names = test_publish.stack_names
stack = test_publish.stack


def front(**fields: object) -> bytes:
    lines = [f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items()]
    return ("---\n" + "\n".join(lines) + "\n---\n\n正文。\n").encode()


def test_an_article_at_every_limit_is_stored_and_served(stack: Stack) -> None:
    slug = "s" * MAX_SLUG_LENGTH
    aliases = [f"/old/{i:02d}/" + "a" * (MAX_ALIAS_LENGTH - 10) for i in range(MAX_ALIASES)]
    data = front(
        title="链" * MAX_TITLE_LENGTH,  # 3 bytes a character in UTF-8
        slug=slug,
        summary="摘" * MAX_SUMMARY_LENGTH,
        author="作" * MAX_AUTHOR_LENGTH,
        tags=[f"{i}" + "标" * (MAX_TAG_LENGTH - 1) for i in range(MAX_TAGS)],
        aliases=aliases,
        date="2024-05-01 08:00",
        category="bitcoin",
    )
    stack.upload("articles/limits.md", data)
    assert stack.report("articles/limits.md")["status"] == "published"
    assert stack.item(slug)["title"]["S"] == "链" * MAX_TITLE_LENGTH
    assert stack.page(f"articles/{slug}/index.html") is not None
    assert stack.page(aliases[0].strip("/") + "/index.html") is not None


def test_keys_up_to_the_limit_publish_and_longer_ones_are_reported(stack: Stack) -> None:
    fits = "articles/" + "k" * (MAX_KEY_BYTES - len("articles/") - len(".md")) + ".md"
    assert len(fits.encode()) == MAX_KEY_BYTES
    stack.upload(fits, front(title="Fits", slug="fits", date="2024-05-01 08:00"))
    assert stack.report(fits)["status"] == "published"  # _status/<key>.json is 1,024 bytes

    # One byte more (a CJK character: 3 bytes) and S3 could not hold the report at its key.
    longer = "articles/" + "k" * (MAX_KEY_BYTES - len("articles/") - len(".md") - 2) + "链.md"
    assert len(longer.encode()) == MAX_KEY_BYTES + 1
    stack.upload(longer, front(title="Too long", slug="too-long", date="2024-05-01 08:00"))
    report = stack.report(TOO_LONG_PREFIX + hashlib.sha256(longer.encode()).hexdigest())
    assert report["status"] == "error"
    assert report["key"] == longer
    assert "at most 1,011" in report["error"]["message"]
    assert stack.item("too-long") == {}


def test_a_site_yaml_at_the_limit_is_stored(stack: Stack) -> None:
    text = b"name: Big\ndescription: " + b"d" * (MAX_SITE_TEXT_BYTES - 30) + b"\n"
    assert len(text) <= MAX_SITE_TEXT_BYTES
    stack.upload("site.yaml", text)
    assert stack.report("site.yaml")["status"] == "published"
    stack.upload("site.yaml", text + b"#" * 64)
    assert "too large" in stack.report("site.yaml")["error"]["message"]
