"""template.yaml, checked offline: cfn-lint, the SAM transform, and what the transform produces.

cfn-lint (>= 1.54) no longer expands SAM resources, so the template is also transformed with
samtranslator (local CodeUri/ContentUri replaced by s3:// URIs) and the generated CloudFormation
is linted and inspected: S3 notifications, the stream mapping, async retries and destinations,
the HTTP API, the distribution, alarms, IAM.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint, lint_file
from samtranslator.translator.transform import transform

from tests.support.paths import ROOT
from tests.support.template import (
    TEMPLATE_PATH,
    filter_matches,
    function_policy_actions,
    function_policy_statements,
    parse_template,
    s3_subscriptions,
    stream_filter_patterns,
    template,
)

FUNCTIONS = (
    "PublishFunction",
    "RebuildFunction",
    "ViewsFunction",
    "TrendingFunction",
    "RerenderFunction",
)
QUEUES = (
    "PublishFailureQueue",
    "RebuildFailureQueue",
    "TrendingFailureQueue",
    "RerenderDeadLetterQueue",
)
CONTENT_BUCKET_NAME = {"Fn::Sub": "${AWS::StackName}-content-${AWS::AccountId}"}
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"

# The managed policies SAM attaches by itself (the only ones allowed).
MANAGED = {
    "AWSLambdaBasicExecutionRole": (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    ),
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSLambdaDynamoDBExecutionRole": (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
    ),
    "AWSLambdaSQSQueueExecutionRole": (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    ),
}


class _PolicyLoader:
    """samtranslator asks for the managed policy map only when a policy is named; offline map."""

    def load(self) -> dict[str, str]:
        return dict(MANAGED)


def sam_transform(raw: dict[str, Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """The CloudFormation that CloudFormation's SAM transform would deploy."""
    data = copy.deepcopy(raw)
    for resource in data["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = "s3://artifacts/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = "s3://artifacts/layer.zip"
    result: dict[str, Any] = transform(data, parameters or {}, _PolicyLoader())
    return result


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return template()


@pytest.fixture(scope="module")
def cfn(raw: dict[str, Any]) -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield sam_transform(raw)


def res(cfn: dict[str, Any], logical_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = cfn["Resources"][logical_id]
    return resource


def props(cfn: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = cfn["Resources"][logical_id]["Properties"]
    return properties


def of_type(cfn: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == resource_type}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def refs(value: Any) -> set[str]:
    """Every resource, parameter or condition name an expression refers to."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item[0] if isinstance(item, list) else item.split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) else item
                found |= {
                    name.split(".")[0] for name in _sub_names(text) if not name.startswith("AWS::")
                }
                if isinstance(item, list):
                    found |= refs(item[1])
            else:
                found |= refs(item)
    elif isinstance(value, list):
        for item in value:
            found |= refs(item)
    return found


def _sub_names(text: str) -> list[str]:
    names, rest = [], text
    while "${" in rest:
        start = rest.index("${") + 2
        end = rest.index("}", start)
        if not rest[start:end].startswith("!"):
            names.append(rest[start:end])
        rest = rest[end + 1 :]
    return names


# ------------------------------------------------------------------------- lint + transform


def test_cfn_lint_clean() -> None:
    matches = lint_file(TEMPLATE_PATH, config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


def test_transformed_template_lints_clean(cfn: dict[str, Any]) -> None:
    matches = lint(json.dumps(cfn), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


def test_no_circular_dependencies(cfn: dict[str, Any]) -> None:
    """The classic SAM trap: a bucket's notification -> function -> role -> bucket."""
    resources = cfn["Resources"]
    graph = {
        name: (refs(body.get("Properties", {})) | set(as_list(body.get("DependsOn", []))))
        & set(resources)
        for name, body in resources.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail(f"cycle: {' -> '.join([*path, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_contract_logical_ids(raw: dict[str, Any]) -> None:
    expected = {
        "ContentBucket": "AWS::S3::Bucket",
        "SiteBucket": "AWS::S3::Bucket",
        "ArticlesTable": "AWS::DynamoDB::Table",
        "ViewsTable": "AWS::DynamoDB::Table",
        "SharedLayer": "AWS::Serverless::LayerVersion",
        "PublishFunction": "AWS::Serverless::Function",
        "RebuildFunction": "AWS::Serverless::Function",
        "ViewsFunction": "AWS::Serverless::Function",
        "TrendingFunction": "AWS::Serverless::Function",
        "HttpApi": "AWS::Serverless::HttpApi",
        "Distribution": "AWS::CloudFront::Distribution",
        "SiteOriginAccessControl": "AWS::CloudFront::OriginAccessControl",
        "PublishFailureQueue": "AWS::SQS::Queue",
        "RebuildFailureQueue": "AWS::SQS::Queue",
        "AlarmTopic": "AWS::SNS::Topic",
    }
    assert {k: raw["Resources"][k]["Type"] for k in expected} == expected
    # TrendingSchedule is the schedule event of the trending function.
    event = raw["Resources"]["TrendingFunction"]["Properties"]["Events"]["TrendingSchedule"]
    assert event["Properties"]["Schedule"] == "rate(5 minutes)"
    assert raw["Transform"] == "AWS::Serverless-2016-10-31"


def test_short_tags_load_in_long_form() -> None:
    text = """
Resources:
  X:
    Type: T
    Properties:
      A: !Ref P
      B: !GetAtt Bucket.Arn
      C: !Sub "${AWS::StackName}-x"
      D: !If [Cond, !Join ["", [a, b]], !Ref AWS::NoValue]
      E: !Equals [!Select [0, !Split [",", "a,b"]], a]
      F: 2012-10-17
"""
    properties = parse_template(text)["Resources"]["X"]["Properties"]
    assert properties == {
        "A": {"Ref": "P"},
        "B": {"Fn::GetAtt": ["Bucket", "Arn"]},
        "C": {"Fn::Sub": "${AWS::StackName}-x"},
        "D": {"Fn::If": ["Cond", {"Fn::Join": ["", ["a", "b"]]}, {"Ref": "AWS::NoValue"}]},
        "E": {"Fn::Equals": [{"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}, "a"]},
        "F": "2012-10-17",
    }


# ------------------------------------------------------------------------- storage


def test_content_bucket_events_four_filters(cfn: dict[str, Any], raw: dict[str, Any]) -> None:
    configs = props(cfn, "ContentBucket")["NotificationConfiguration"]["LambdaConfigurations"]
    seen = set()
    for config in configs:
        assert config["Function"] == {"Fn::GetAtt": ["PublishFunction", "Arn"]}
        rules = config["Filter"]["S3Key"]["Rules"]
        assert [r["Name"] for r in rules] == ["prefix"]
        seen.add((config["Event"], rules[0]["Value"]))
    prefixes = {"articles/", "media/", "theme/", "site.yaml"}
    events = {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    assert seen == {(e, p) for e in events for p in prefixes}
    assert len(configs) == len(seen)
    # SAM ordered the bucket after its invoke permissions (one per event).
    permissions = of_type(cfn, "AWS::Lambda::Permission")
    s3_permissions = {
        k for k, v in permissions.items() if v["Properties"]["Principal"] == "s3.amazonaws.com"
    }
    assert len(s3_permissions) == 4
    assert set(res(cfn, "ContentBucket")["DependsOn"]) == s3_permissions

    # The local stack routes with the same subscriptions; the publish function's own
    # `_status/` reports never trigger it again (no recursion).
    subs = s3_subscriptions(raw)
    assert {s.prefix for s in subs} == prefixes

    def routed(key: str, event: str = "ObjectCreated:Put") -> bool:
        return any(s.matches("ContentBucket", event, key) for s in subs)

    assert routed("articles/2024/hello.md")
    assert routed("media/a.png", "ObjectRemoved:DeleteMarkerCreated")
    assert routed("theme/article.html")
    assert routed("site.yaml")
    assert not routed("_status/articles/hello.md.json")
    assert not routed("drafts/x.md")
    assert not any(s.matches("SiteBucket", "ObjectCreated:Put", "articles/x.md") for s in subs)


def test_content_bucket_storage(raw: dict[str, Any], cfn: dict[str, Any]) -> None:
    bucket = props(cfn, "ContentBucket")
    assert bucket["BucketName"] == CONTENT_BUCKET_NAME
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90
    assert res(cfn, "ContentBucket")["DeletionPolicy"] == "Retain"
    # Functions find the bucket by the same name (a Ref would be a cycle).
    variables = raw["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["CONTENT_BUCKET"] == CONTENT_BUCKET_NAME


@pytest.mark.parametrize("bucket", ["ContentBucket", "SiteBucket"])
def test_buckets_private_and_encrypted(cfn: dict[str, Any], bucket: str) -> None:
    properties = props(cfn, bucket)
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (sse,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    policies = [
        p
        for p in of_type(cfn, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    (policy,) = policies
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    tls = [s for s in statements if s.get("Sid") == "DenyInsecureTransport"]
    assert tls
    assert tls[0]["Effect"] == "Deny"
    assert tls[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(as_list(tls[0]["Resource"])) == 2  # the bucket and its objects


def test_site_bucket_only_cloudfront_reads_and_never_internal(cfn: dict[str, Any]) -> None:
    assert "VersioningConfiguration" not in props(cfn, "SiteBucket")
    statements = {
        s["Sid"]: s for s in props(cfn, "SiteBucketPolicy")["PolicyDocument"]["Statement"]
    }
    allow = statements["AllowCloudFrontRead"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert allow["Resource"] == {"Fn::Sub": "${SiteBucket.Arn}/*"}
    source_arn = allow["Condition"]["StringEquals"]["AWS:SourceArn"]
    assert refs(source_arn) == {"Distribution"}
    assert ":distribution/${Distribution}" in source_arn["Fn::Sub"]
    deny = statements["DenyCloudFrontInternal"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert deny["Action"] == "s3:GetObject"
    assert deny["Resource"] == {"Fn::Sub": "${SiteBucket.Arn}/_internal/*"}
    allows = [s for s in statements.values() if s["Effect"] == "Allow"]
    assert allows == [allow]


def test_tables(cfn: dict[str, Any]) -> None:
    keys = [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    for table in ("ArticlesTable", "ViewsTable"):
        properties = props(cfn, table)
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["KeySchema"] == keys
        assert {
            (a["AttributeName"], a["AttributeType"]) for a in properties["AttributeDefinitions"]
        } == {("pk", "S"), ("sk", "S")}
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert properties["SSESpecification"] == {"SSEEnabled": True}
        assert "GlobalSecondaryIndexes" not in properties
    articles, views = props(cfn, "ArticlesTable"), props(cfn, "ViewsTable")
    assert articles["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert "TimeToLiveSpecification" not in articles
    assert "StreamSpecification" not in views  # views never trigger rebuilds
    assert views["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert res(cfn, "ArticlesTable")["DeletionPolicy"] == "Retain"


# ------------------------------------------------------------------------- functions


def test_functions_common_settings(raw: dict[str, Any], cfn: dict[str, Any]) -> None:
    layer = [k for k in of_type(cfn, "AWS::Lambda::LayerVersion")]
    assert len(layer) == 1
    for function in FUNCTIONS:
        properties = props(cfn, function)
        assert properties["Runtime"] == "python3.13"
        assert properties["Architectures"] == ["arm64"]
        assert properties["Handler"] == "app.lambda_handler"
        assert properties["Layers"] == [{"Ref": layer[0]}]
        assert properties["TracingConfig"] == {"Mode": {"Ref": "TracingMode"}}
        variables = properties["Environment"]["Variables"]
        assert variables["POWERTOOLS_SERVICE_NAME"] == function.removesuffix("Function").lower()
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "chainpress"
        assert variables["LOG_LEVEL"] == {"Ref": "LogLevel"}
        assert variables["SITE_BUCKET"] == {"Ref": "SiteBucket"}
        assert variables["ARTICLES_TABLE"] == {"Ref": "ArticlesTable"}
        assert variables["VIEWS_TABLE"] == {"Ref": "ViewsTable"}
        assert variables["CONTENT_BUCKET"] == CONTENT_BUCKET_NAME
        code_uri = raw["Resources"][function]["Properties"]["CodeUri"]
        assert code_uri == f"functions/{variables['POWERTOOLS_SERVICE_NAME']}/"
        assert (ROOT / code_uri).is_dir()
        # Logs kept 30 days in a group the stack owns.
        group = props(cfn, f"{function}LogGroup")
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
    rebuild = props(cfn, "RebuildFunction")
    assert rebuild["Timeout"] == 900
    assert rebuild["MemorySize"] == 1024
    assert rebuild["Environment"]["Variables"]["DISTRIBUTION_ID"] == {"Ref": "Distribution"}
    assert rebuild["Environment"]["Variables"]["INVALIDATION_WILDCARD_THRESHOLD"] == {
        "Ref": "InvalidationWildcardThreshold"
    }
    assert raw["Parameters"]["InvalidationWildcardThreshold"]["Default"] == 50
    assert rebuild["Environment"]["Variables"]["INVALIDATION_MODE"] == {"Ref": "InvalidationMode"}
    mode = raw["Parameters"]["InvalidationMode"]
    assert (mode["Default"], mode["AllowedValues"]) == ("articles", ["articles", "exact"])
    assert rebuild["Environment"]["Variables"]["INVALIDATION_FLUSH"] == {"Ref": "InvalidationFlush"}
    assert raw["Parameters"]["InvalidationFlush"]["Default"] == "batch"
    publish = props(cfn, "PublishFunction")["Environment"]["Variables"]
    assert publish["DISTRIBUTION_ID"] == {"Ref": "Distribution"}  # records edited pages
    # The rebuild role writes the articles table only in the pending-invalidation partition
    # and the article partitions (relink cursors), never sources, listings or heads.
    (bookkeeping,) = [
        st
        for st in function_policy_statements(raw, "RebuildFunction")
        if st.get("Sid") == "RebuildBookkeeping"
    ]
    assert sorted(as_list(bookkeeping["Action"])) == ["dynamodb:DeleteItem", "dynamodb:UpdateItem"]
    assert bookkeeping["Condition"] == {
        "ForAllValues:StringLike": {
            "dynamodb:LeadingKeys": ["cdn#pending", "article#*", "indexnow#pending"]
        }
    }
    # Site search postings: batch writes in the term# partitions only.
    (postings,) = [
        st
        for st in function_policy_statements(raw, "RebuildFunction")
        if st.get("Sid") == "SearchPostings"
    ]
    assert as_list(postings["Action"]) == ["dynamodb:BatchWriteItem"]
    assert postings["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["term#*"]}
    }
    # IndexNow: off by default, its key checked by the template.
    assert rebuild["Environment"]["Variables"]["INDEXNOW_KEY"] == {"Ref": "IndexNowKey"}
    assert raw["Parameters"]["IndexNowKey"]["Default"] == ""
    views = props(cfn, "ViewsFunction")["Environment"]["Variables"]
    assert refs(views["SITE_ORIGIN"]) == {"SiteUrl", "DomainName"}


def test_shared_layer(raw: dict[str, Any], cfn: dict[str, Any]) -> None:
    layer = raw["Resources"]["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert layer["Properties"]["ContentUri"] == "layers/chainpress"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    source = ROOT / layer["Properties"]["ContentUri"]
    assert (source / "chainpress" / "__init__.py").is_file()
    assert (source / "requirements.txt").is_file()
    # BuildMethod python3.x copies ContentUri into python/: a python/ here would nest.
    assert not (source / "python").exists()
    (generated,) = of_type(cfn, "AWS::Lambda::LayerVersion").values()
    assert generated["DeletionPolicy"] == "Delete"


def test_rebuild_stream_mapping(cfn: dict[str, Any], raw: dict[str, Any]) -> None:
    properties = props(cfn, "RebuildFunctionArticlesStream")
    assert properties["FunctionName"] == {"Ref": "RebuildFunction"}
    assert properties["EventSourceArn"] == {"Fn::GetAtt": ["ArticlesTable", "StreamArn"]}
    assert properties["StartingPosition"] == "TRIM_HORIZON"
    assert properties["BatchSize"] == 100
    assert properties["MaximumBatchingWindowInSeconds"] == 5
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["MaximumRetryAttempts"] == 5
    assert 0 < properties["MaximumRecordAgeInSeconds"] <= 86400
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["RebuildFailureQueue", "Arn"]}}
    }
    (pattern,) = [json.loads(f["Pattern"]) for f in properties["FilterCriteria"]["Filters"]]
    assert pattern == {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "article#"}, "site"]}}}}
    assert stream_filter_patterns(raw, "RebuildFunction") == [pattern]
    # The stream role comes from SAM's managed policy; the failure queue is writable.
    role = props(cfn, "RebuildFunctionRole")
    assert MANAGED["AWSLambdaDynamoDBExecutionRole"] in role["ManagedPolicyArns"]
    assert _sends_to(role, "RebuildFailureQueue")


def test_rerender_work_queue(cfn: dict[str, Any], raw: dict[str, Any]) -> None:
    mappings = of_type(cfn, "AWS::Lambda::EventSourceMapping")
    assert set(mappings) == {"RebuildFunctionArticlesStream", "RerenderFunctionWorkQueue"}
    mapping = props(cfn, "RerenderFunctionWorkQueue")
    assert mapping["FunctionName"] == {"Ref": "RerenderFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["RerenderQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 100}
    assert 1 <= mapping["BatchSize"] <= 10
    function = props(cfn, "RerenderFunction")
    queue = props(cfn, "RerenderQueue")
    # A batch being worked on never reappears: visibility >= 6x the function's timeout.
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert queue["SqsManagedSseEnabled"] is True
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["RerenderDeadLetterQueue", "Arn"]}
    # The handler's last attempt (it records the failure in the run) is the queue's last one.
    variables = function["Environment"]["Variables"]
    assert int(variables["RERENDER_MAX_RECEIVES"]) == redrive["maxReceiveCount"] == 3
    dead = props(cfn, "RerenderDeadLetterQueue")
    assert dead["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    for name in ("RebuildFunction", "RerenderFunction"):
        assert props(cfn, name)["Environment"]["Variables"]["RERENDER_QUEUE_URL"] == {
            "Ref": "RerenderQueue"
        }
    assert variables["DISTRIBUTION_ID"] == {"Ref": "Distribution"}
    age = [
        a["Properties"]
        for a in of_type(cfn, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "ApproximateAgeOfOldestMessage"
    ]
    assert len(age) == 1
    assert age[0]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["RerenderQueue", "QueueName"]}}
    ]
    assert age[0]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


@pytest.mark.parametrize(
    ("pk", "wanted"),
    [
        ("article#hello-world", True),
        ("site", True),
        ("source#articles/hello.md", False),
        ("list#home", False),
        ("head#category/bitcoin", False),
        ("sitemap", False),
        ("articles#x", False),
    ],
)
def test_rebuild_filter_selects_article_and_site_records(
    raw: dict[str, Any], pk: str, wanted: bool
) -> None:
    (pattern,) = stream_filter_patterns(raw, "RebuildFunction")
    record = {
        "eventName": "MODIFY",
        "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": "x"}}, "SequenceNumber": "1"},
    }
    assert filter_matches(pattern, record) is wanted


def _sends_to(role_properties: dict[str, Any], queue: str) -> bool:
    return any(
        statement["Effect"] == "Allow"
        and "sqs:SendMessage" in as_list(statement["Action"])
        and statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
        for policy in role_properties["Policies"]
        for statement in as_list(policy["PolicyDocument"]["Statement"])
    )


@pytest.mark.parametrize(
    ("function", "queue", "retries"),
    [
        ("PublishFunction", "PublishFailureQueue", 2),
        ("RebuildFunction", "RebuildFailureQueue", 1),
        ("TrendingFunction", "TrendingFailureQueue", 1),
    ],
)
def test_async_retries_and_failure_destinations(
    cfn: dict[str, Any], function: str, queue: str, retries: int
) -> None:
    configs = [
        c["Properties"]
        for c in of_type(cfn, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function}
    ]
    (config,) = configs
    assert config["MaximumRetryAttempts"] == retries
    assert 60 <= config["MaximumEventAgeInSeconds"] <= 21600
    assert config["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}
    }
    assert _sends_to(props(cfn, f"{function}Role"), queue)


def test_publish_concurrency_is_bounded(raw: dict[str, Any], cfn: dict[str, Any]) -> None:
    # Every publish writes head#home: a bulk upload queues in Lambda (events wait up to 6 h)
    # rather than retrying against itself.
    assert props(cfn, "PublishFunction")["ReservedConcurrentExecutions"] == {
        "Ref": "PublishConcurrency"
    }
    assert raw["Parameters"]["PublishConcurrency"]["Default"] == 10


def test_failure_queues_encrypted_and_alarmed(cfn: dict[str, Any]) -> None:
    alarms = of_type(cfn, "AWS::CloudWatch::Alarm")
    for queue in QUEUES:
        assert props(cfn, queue)["SqsManagedSseEnabled"] is True
        matching = [
            a["Properties"]
            for a in alarms.values()
            if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
            and a["Properties"]["Dimensions"]
            == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
        ]
        assert len(matching) == 1, queue
        assert matching[0]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert matching[0]["Threshold"] == 1


def test_function_error_alarms(cfn: dict[str, Any]) -> None:
    alarms = of_type(cfn, "AWS::CloudWatch::Alarm")
    for function in FUNCTIONS:
        matching = [
            a["Properties"]
            for a in alarms.values()
            if a["Properties"]["Namespace"] == "AWS/Lambda"
            and a["Properties"]["MetricName"] == "Errors"
            and a["Properties"]["Dimensions"]
            == [{"Name": "FunctionName", "Value": {"Ref": function}}]
        ]
        assert len(matching) == 1, function
        assert matching[0]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert matching[0]["TreatMissingData"] == "notBreaching"
    subscription = res(cfn, "AlarmEmailSubscription")
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"


def test_trending_schedule(cfn: dict[str, Any]) -> None:
    rule = res(cfn, "TrendingFunctionTrendingSchedule")
    assert rule["Type"] == "AWS::Events::Rule"
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert rule["Properties"]["State"] == "ENABLED"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["TrendingFunction", "Arn"]}


def test_invalidation_schedule_and_backlog_alarm(cfn: dict[str, Any]) -> None:
    rule = res(cfn, "RebuildFunctionInvalidationSchedule")
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert rule["Properties"]["State"] == "ENABLED"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["RebuildFunction", "Arn"]}
    assert json.loads(target["Input"]) == {"action": "flush-invalidations"}
    alarm = props(cfn, "InvalidationBacklogAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("chainpress", "OldestPendingInvalidation")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "rebuild"}]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


# ------------------------------------------------------------------------- HTTP API


def test_http_api_routes_and_throttling(cfn: dict[str, Any]) -> None:
    body = props(cfn, "HttpApi")["Body"]
    routes = {
        (method.upper(), path)
        for path, operations in body["paths"].items()
        for method in operations
    }
    assert routes == {("POST", "/api/views/{slug}"), ("GET", "/api/views"), ("GET", "/api/hot")}
    for operations in body["paths"].values():
        for operation in operations.values():
            integration = operation["x-amazon-apigateway-integration"]
            assert "${ViewsFunction.Arn}" in integration["uri"]["Fn::Sub"]
            assert integration["payloadFormatVersion"] == "2.0"
    (stage,) = of_type(cfn, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingBurstLimit"] > 0
    assert settings["ThrottlingRateLimit"] > 0
    assert stage["Properties"]["StageName"] == "$default"


def _cors_origins(cors: dict[str, Any], conditions: dict[str, bool]) -> list[str]:
    """allowOrigins with the template's Fn::If resolved for the given conditions."""

    def resolve(value: Any) -> Any:
        if isinstance(value, dict) and "Fn::If" in value:
            name, yes, no = value["Fn::If"]
            return resolve(yes if conditions[name] else no)
        if isinstance(value, dict) and "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(resolve(p) for p in parts)
        if value == {"Ref": "AWS::NoValue"}:
            return None
        return value

    return [o for o in (resolve(v) for v in cors["allowOrigins"]) if o is not None]


@pytest.mark.parametrize(
    ("parameters", "conditions", "origins"),
    [
        ({}, {"HasSiteUrl": False, "HasCustomDomain": False}, []),
        (
            {"DomainName": "news.example.com", "CertificateArn": "arn:cert"},
            {"HasSiteUrl": False, "HasCustomDomain": True},
            ["https://news.example.com"],
        ),
        (
            {"SiteUrl": "https://www.example.org"},
            {"HasSiteUrl": True, "HasCustomDomain": False},
            ["https://www.example.org"],
        ),
    ],
)
def test_http_api_cors_allows_only_the_site_origin(
    raw: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    parameters: dict[str, str],
    conditions: dict[str, bool],
    origins: list[str],
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    cors = props(sam_transform(raw, parameters), "HttpApi")["Body"]["x-amazon-apigateway-cors"]
    assert _cors_origins(cors, conditions) == origins
    assert set(cors["allowMethods"]) == {"GET", "POST", "OPTIONS"}
    assert "allowCredentials" not in cors


# ------------------------------------------------------------------------- CloudFront


def test_distribution(cfn: dict[str, Any]) -> None:
    config = props(cfn, "Distribution")["DistributionConfig"]
    assert config["HttpVersion"] == "http2and3"
    assert config["DefaultRootObject"] == "index.html"
    assert config["PriceClass"] == {"Ref": "PriceClass"}
    assert config["Aliases"]["Fn::If"][0] == "HasCustomDomain"
    assert config["ViewerCertificate"]["Fn::If"][0] == "HasCustomDomain"
    origins = {o["Id"]: o for o in config["Origins"]}
    site, api = origins["site"], origins["api"]
    assert site["DomainName"] == {"Fn::GetAtt": ["SiteBucket", "RegionalDomainName"]}
    assert site["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert site["OriginAccessControlId"] == {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]}
    assert api["DomainName"] == {
        "Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    assert api["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"

    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "site"
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["Compress"] is True
    assert default["CachePolicyId"] == CACHING_OPTIMIZED
    assert default["ResponseHeadersPolicyId"] == {"Ref": "SecurityHeadersPolicy"}
    assert default["FunctionAssociations"] == [
        {
            "EventType": "viewer-request",
            "FunctionARN": {"Fn::GetAtt": ["IndexRewriteFunction", "FunctionARN"]},
        }
    ]
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(behaviours) == {"/api/*", "/media/*", "/preview/*"}
    api_behaviour = behaviours["/api/*"]
    assert api_behaviour["TargetOriginId"] == "api"
    assert api_behaviour["CachePolicyId"] == CACHING_DISABLED
    assert api_behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert {"GET", "POST", "OPTIONS"} <= set(api_behaviour["AllowedMethods"])
    assert api_behaviour["ViewerProtocolPolicy"] in {"https-only", "redirect-to-https"}
    errors = {e["ErrorCode"]: e for e in config["CustomErrorResponses"]}
    # Missing S3 keys come back as 403 (CloudFront may not list the bucket): they get the 404
    # page. A 404 is left alone, so the views API's JSON 404 reaches the page script.
    assert set(errors) == {403}
    for error in errors.values():
        assert error["ResponseCode"] == 404
        assert error["ResponsePagePath"] == "/404.html"
        # Never cached: a new article's URL asked for too early needs no invalidation.
        assert error["ErrorCachingMinTTL"] == 0

    oac = props(cfn, "SiteOriginAccessControl")["OriginAccessControlConfig"]
    assert oac["OriginAccessControlOriginType"] == "s3"
    assert oac["SigningBehavior"] == "always"
    assert oac["SigningProtocol"] == "sigv4"


def test_security_headers(cfn: dict[str, Any]) -> None:
    headers = props(cfn, "SecurityHeadersPolicy")["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"
    ]
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["ContentTypeOptions"]["Override"] is True
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    csp = {
        directive.split()[0]: directive.split()[1:]
        for directive in headers["ContentSecurityPolicy"]["ContentSecurityPolicy"].split(";")
        if directive.strip()
    }
    for directive in ("default-src", "script-src", "style-src", "connect-src"):
        assert csp[directive] == ["'self'"], directive
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert all("unsafe" not in value for values in csp.values() for value in values)


def test_media_is_served_sandboxed(cfn: dict[str, Any]) -> None:
    """Uploaded HTML/SVG opened at /media/... runs no script on the site's origin."""
    config = props(cfn, "Distribution")["DistributionConfig"]
    (media,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/media/*"]
    assert media["TargetOriginId"] == "site"
    assert media["AllowedMethods"] == ["GET", "HEAD"]
    assert media["ResponseHeadersPolicyId"] == {"Ref": "MediaHeadersPolicy"}
    headers = props(cfn, "MediaHeadersPolicy")["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"
    ]
    directives = [
        d.split() for d in headers["ContentSecurityPolicy"]["ContentSecurityPolicy"].split(";")
    ]
    csp = {d[0]: d[1:] for d in directives if d}
    assert csp["sandbox"] == []  # no allow-scripts, no allow-same-origin
    assert csp["default-src"] == ["'none'"]
    assert "script-src" not in csp
    assert headers["ContentSecurityPolicy"]["Override"] is True
    assert headers["ContentTypeOptions"]["Override"] is True
    assert headers["FrameOptions"]["FrameOption"] == "DENY"


def test_views_reach_only_article_records_and_only_through_cloudfront(
    raw: dict[str, Any], cfn: dict[str, Any]
) -> None:
    statements = {st.get("Sid"): st for st in function_policy_statements(raw, "ViewsFunction")}
    known = statements["KnownArticlesOnly"]
    assert known["Resource"] == {"Fn::GetAtt": ["ArticlesTable", "Arn"]}
    # Not the settings, sources, runs or pending CDN paths: article#<slug> items only.
    assert known["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["article#*"]}
    }
    secret = statements["OriginVerifySecret"]
    assert as_list(secret["Action"]) == ["secretsmanager:GetSecretValue"]
    assert secret["Resource"] == {"Ref": "OriginVerifySecret"}
    generated = props(cfn, "OriginVerifySecret")["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32
    env = props(cfn, "ViewsFunction")["Environment"]["Variables"]
    assert env["ORIGIN_SECRET_ARN"] == {"Ref": "OriginVerifySecret"}
    config = props(cfn, "Distribution")["DistributionConfig"]
    (api,) = [o for o in config["Origins"] if o["Id"] == "api"]
    (header,) = api["OriginCustomHeaders"]
    assert header["HeaderName"] == "X-Origin-Verify"
    assert header["HeaderValue"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecret}:SecretString}}"
    }


REWRITES = [
    ("/", "/index.html"),
    ("/articles/hello-world/", "/articles/hello-world/index.html"),
    ("/articles/hello-world", "/articles/hello-world/index.html"),
    ("/page/2", "/page/2/index.html"),
    ("/category/bitcoin/page/3/", "/category/bitcoin/page/3/index.html"),
    ("/media/v1.2/diagram", "/media/v1.2/diagram/index.html"),
    ("/feed.xml", "/feed.xml"),
    ("/static/style.css", "/static/style.css"),
    ("/sitemaps/articles-1.xml", "/sitemaps/articles-1.xml"),
    ("/index.html", "/index.html"),
]


def test_index_rewrite_function(cfn: dict[str, Any]) -> None:
    function = props(cfn, "IndexRewriteFunction")
    assert function["AutoPublish"] is True
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the rewrite runs only in CloudFront")
    script = (
        function["FunctionCode"]
        + "\nconst uris = JSON.parse(process.argv[1]);\n"
        + "console.log(JSON.stringify(uris.map(u => handler({request: {uri: u}}).uri)));\n"
    )
    uris = [uri for uri, _ in REWRITES]
    result = subprocess.run(
        [node, "-e", script, json.dumps(uris)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert json.loads(result.stdout) == [expected for _, expected in REWRITES]


def test_outputs(cfn: dict[str, Any]) -> None:
    assert set(cfn["Outputs"]) == {
        "SiteUrl",
        "ContentBucketName",
        "SiteBucketName",
        "ApiUrl",
        "DistributionId",
        "ArticlesTableName",
        "ViewsTableName",
        "RerenderQueueUrl",
        "RerenderDeadLetterQueueUrl",
    }
    site_url = cfn["Outputs"]["SiteUrl"]["Value"]
    assert refs(site_url) == {"SiteUrl", "DomainName", "Distribution"}


# ------------------------------------------------------------------------- IAM

# Exactly what each function may do, per resource (a later check compares with the code).
ALLOWED: dict[str, dict[str, set[str]]] = {
    "PublishFunction": {
        "ContentBucket/*": {"s3:GetObject", "s3:GetObjectVersion"},
        "ContentBucket": {"s3:ListBucket", "s3:ListBucketVersions"},
        "ContentBucket/_status/*": {"s3:PutObject"},
        "SiteBucket/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
        "SiteBucket": {"s3:ListBucket"},
        "ArticlesTable": {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            # The images an article shows (imageuse# items).
            "dynamodb:BatchWriteItem",
            # Pending CDN paths of edited articles (only partition cdn#pending).
            "dynamodb:UpdateItem",
        },
        # The signing key of draft previews (Ref of a secret: its ARN).
        "PreviewKey": {"secretsmanager:GetSecretValue"},
    },
    "RebuildFunction": {
        "SiteBucket/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
        "SiteBucket": {"s3:ListBucket"},
        "ArticlesTable": {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            # Pending CDN paths, relink cursors and pending IndexNow URLs (only partitions
            # cdn#pending, article#*, indexnow#pending: see test_rebuild_env_and_cdn_queue).
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",  # search postings (only partitions term#*)
        },
        "ViewsTable": {"dynamodb:GetItem"},
        "Distribution": {"cloudfront:CreateInvalidation"},
        "RerenderQueue": {"sqs:SendMessage"},
    },
    "RerenderFunction": {
        "SiteBucket/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
        "SiteBucket": {"s3:ListBucket"},
        "ArticlesTable": {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:Scan",
            "dynamodb:PutItem",  # run markers and the run record only (LeadingKeys run#*)
            "dynamodb:UpdateItem",  # those, and the run's pending "/*" (cdn#pending)
            "dynamodb:DeleteItem",  # the pending "/*" once CloudFront took it (cdn#pending)
        },
        "ViewsTable": {"dynamodb:GetItem"},
        "Distribution": {"cloudfront:CreateInvalidation"},
        "RerenderQueue": {"sqs:SendMessage"},
    },
    "ViewsFunction": {
        "ViewsTable": {
            "dynamodb:UpdateItem",
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
        },
        "ArticlesTable": {"dynamodb:ConditionCheckItem", "dynamodb:GetItem"},
        "OriginVerifySecret": {"secretsmanager:GetSecretValue"},
    },
    "TrendingFunction": {
        "ViewsTable": {
            "dynamodb:Query",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:BatchWriteItem",
        },
        "ArticlesTable": {
            "dynamodb:Query",
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        },
        "SiteBucket/*": {"s3:GetObject", "s3:PutObject"},
        "SiteBucket/preview/*": {"s3:DeleteObject"},
        "SiteBucket": {"s3:ListBucket"},
        "ContentBucket/_status/*": {"s3:PutObject"},
    },
}

_CONTENT_ARN = "arn:${AWS::Partition}:s3:::${AWS::StackName}-content-${AWS::AccountId}"
_DISTRIBUTION_ARN = "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/"


def resource_key(resource: Any) -> str:
    """A policy Resource as ``Logical[/path]``; anything unrecognised fails the test."""
    if resource == {"Ref": "PreviewKey"}:  # a secret's Ref is its ARN
        return "PreviewKey"
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        target, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn", resource
        return str(target)
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"]
        assert isinstance(text, str), resource
        if text.startswith(_CONTENT_ARN):
            return "ContentBucket" + text.removeprefix(_CONTENT_ARN)
        if text == _DISTRIBUTION_ARN + "${Distribution}":
            return "Distribution"
        if text.startswith("${") and ".Arn}" in text:
            target, _, rest = text[2:].partition(".Arn}")
            return target + rest
    if (
        isinstance(resource, dict)
        and set(resource) == {"Ref"}
        and resource["Ref"] == "OriginVerifySecret"
    ):
        return "OriginVerifySecret"  # a secret's Ref is its ARN
    pytest.fail(f"unscoped or unrecognised policy resource: {resource!r}")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_policies_least_privilege(raw: dict[str, Any], cfn: dict[str, Any], function: str) -> None:
    granted: dict[str, set[str]] = {}
    for statement in function_policy_statements(raw, function):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        actions = as_list(statement["Action"])
        assert all("*" not in action for action in actions), actions
        for resource in as_list(statement["Resource"]):
            assert resource != "*"
            granted.setdefault(resource_key(resource), set()).update(actions)
    assert granted == ALLOWED[function]
    if function in ("RebuildFunction", "RerenderFunction"):
        # These write only bookkeeping: the re-render run's items, pending CDN paths and (rebuild)
        # relink cursors; never a listing, head, source or the site settings.
        bookkeeping = {"run#*", "cdn#pending", "article#*", "indexnow#pending", "term#*"}
        for statement in function_policy_statements(raw, function):
            writes = {
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",
            }
            if writes & set(as_list(statement["Action"])):
                ((_, condition),) = statement["Condition"].items()
                assert set(condition["dynamodb:LeadingKeys"]) <= bookkeeping, statement
    assert function_policy_actions(raw, function) == set().union(*ALLOWED[function].values())

    # What SAM generated on top: managed policies it always attaches, and the destination.
    role = props(cfn, f"{function}Role")
    expected_managed = {MANAGED["AWSLambdaBasicExecutionRole"], MANAGED["AWSXrayWriteOnlyAccess"]}
    if function == "RebuildFunction":
        expected_managed.add(MANAGED["AWSLambdaDynamoDBExecutionRole"])
    if function == "RerenderFunction":
        expected_managed.add(MANAGED["AWSLambdaSQSQueueExecutionRole"])
    assert set(role["ManagedPolicyArns"]) == expected_managed
    for policy in role["Policies"]:
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            actions = as_list(statement["Action"])
            assert all("*" not in action for action in actions), actions
            assert all(r != "*" for r in as_list(statement["Resource"])), statement
    extra = {p["PolicyName"] for p in role["Policies"]} - {f"{function}RolePolicy0"}
    if function in ("ViewsFunction", "RerenderFunction"):
        assert extra == set()
    else:
        assert extra == {f"{function}EventInvokeConfigOnFailureSQSPolicy"}
