"""Out-of-order uploads through the real publish and rebuild handlers on moto: the alias
claims (``alias#<key>``) and waiting categories (``waiting#category/<key>``) of
DynamoArticleStore do what the in-memory store does in tests/unit/test_event_order.py."""

from __future__ import annotations

from typing import Any

from chainpress.aws import clients
from functions.publish import app as publish_app
from tests.integration import test_rebuild
from tests.integration.test_rebuild import Stack, source
from tests.support.lambda_context import Context

stack = test_rebuild.stack  # the same fixture: template.yaml's stack on moto, both handlers


def put_site(stack: Stack, text: str) -> None:
    answer = stack.s3.put_object(Bucket=stack.content, Key="site.yaml", Body=text.encode())
    obj = {"versionId": answer["VersionId"], "sequencer": stack._sequencer(), "size": len(text)}
    publish_app.lambda_handler(stack._event("s3_settings_put.json", "site.yaml", obj), Context())


def items(stack: Stack, pk: str) -> list[dict[str, Any]]:
    answer = clients.dynamodb().query(
        TableName=stack.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    found: list[dict[str, Any]] = answer["Items"]
    return found


def status(stack: Stack, key: str) -> str:
    body = stack.s3.get_object(Bucket=stack.content, Key=f"_status/{key}.json")["Body"]
    return str(body.read().decode())


def test_an_article_before_the_site_yaml_that_adds_its_category_goes_live_in_it(
    stack: Stack,
) -> None:
    put_site(stack, "name: Chain\ncategories:\n  - bitcoin: Bitcoin\n")
    stack.upload("gamma", source("Gamma", 3, category="defi"))  # S3 delivered this first
    assert stack.get("articles/gamma/index.html") is not None  # live, under its key
    assert "defi" in status(stack, "articles/gamma.md")  # and the editor is told
    assert [i["sk"]["S"] for i in items(stack, "waiting#category/defi")] == ["articles/gamma.md"]
    stack.rebuild()
    put_site(stack, "name: Chain\ncategories:\n  - bitcoin: Bitcoin\n  - defi: DeFi\n")
    assert items(stack, "waiting#category/defi") == []  # published again: waits no more
    stack.rebuild()
    assert stack.slugs("category/defi/index.html") == ["gamma"]
    page = stack.text("articles/gamma/index.html")
    assert '<a href="/category/defi/">DeFi</a>' in page


def test_a_renamed_articles_redirect_survives_every_rebuild(stack: Stack) -> None:
    stack.upload("alpha", source("Alpha", 1, slug="old-name"))
    stack.upload("beta", source("Beta", 2))
    stack.rebuild()
    stack.upload("alpha", source("Alpha", 1, slug="new-name", aliases="[/articles/old-name/]"))
    claims = items(stack, "alias#articles/old-name/index.html")
    assert [c["slug"]["S"] for c in claims] == ["new-name"]
    stack.rebuild()
    redirect = 'http-equiv="refresh" content="0; url=/articles/new-name/"'
    assert redirect in stack.text("articles/old-name/index.html")
    stack.upload("beta", source("Beta, edited", 2))  # another batch near it
    stack.rebuild()
    assert redirect in stack.text("articles/old-name/index.html")
    assert stack.get("articles/new-name/index.html") is not None
    stack.remove("alpha")  # the only claimant goes: so does the redirect
    stack.rebuild()
    assert stack.get("articles/old-name/index.html") is None
    assert items(stack, "alias#articles/old-name/index.html") == []
