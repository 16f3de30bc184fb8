"""template.yaml as data: the buckets and tables of the local stack and of the tests come from it.

``load_template`` reads the SAM template with CloudFormation's short tags (``!Ref``, ``!Sub``,
``!GetAtt`` ...) turned into their long form (``{"Ref": ...}``, ``{"Fn::Sub": ...}``).
``create_resources`` creates every ``AWS::S3::Bucket`` and ``AWS::DynamoDB::Table`` (and, given an
SQS client, every ``AWS::SQS::Queue``) exactly as the template declares them (versioning,
encryption, lifecycle, keys, indexes, stream, TTL, PITR; visibility timeout, retention, redrive
policy) in whatever endpoint the clients point to (moto in-process, the moto server, ...). A
property it does not know raises ``TemplateError``: it refuses to drift silently from production.

Physical names are derived from the logical IDs (``ContentBucket`` -> ``chainpress-content``,
``ArticlesTable`` -> ``chainpress-articles``), not from ``BucketName``/``TableName``, which hold
deploy-time intrinsics.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BUCKET = "AWS::S3::Bucket"
TABLE = "AWS::DynamoDB::Table"
QUEUE = "AWS::SQS::Queue"
SECRET = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type, not a secret
FUNCTION = "AWS::Serverless::Function"

# Names of the CloudFormation short tags whose long form is "Fn::<Name>".
_FN_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Contains",
    "EachMemberEquals",
    "EachMemberIn",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "RefAll",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
    "ValueOf",
    "ValueOfAll",
)


class TemplateError(ValueError):
    """The template uses something this module cannot reproduce faithfully."""


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader + CloudFormation short tags; dates stay strings (as CloudFormation reads them)."""


_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _node_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unexpected YAML node {node!r}")  # pragma: no cover


def _long_form(key: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {key: _node_value(loader, node)}

    return construct


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


_CfnLoader.add_constructor("!Ref", _long_form("Ref"))
_CfnLoader.add_constructor("!Condition", _long_form("Condition"))
_CfnLoader.add_constructor("!GetAtt", _get_att)
for _name in _FN_TAGS:
    _CfnLoader.add_constructor(f"!{_name}", _long_form(f"Fn::{_name}"))


def parse_template(text: str) -> dict[str, Any]:
    """Parse template YAML (or JSON) text with CloudFormation short tags."""
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError("not a CloudFormation template (no Resources)")
    return data


def load_template(path: str | Path) -> dict[str, Any]:
    """Read template.yaml into plain dicts (short tags in their long form)."""
    return parse_template(Path(path).read_text(encoding="utf-8"))


# ------------------------------------------------------------------------- names


def physical_name(logical_id: str, prefix: str = "chainpress") -> str:
    """``ContentBucket`` -> ``chainpress-content``; ``ArticlesTable`` -> ``chainpress-articles``."""
    stem = re.sub(r"(Bucket|Table)$", "", logical_id) or logical_id
    kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", stem).lower()
    return f"{prefix}-{kebab}"


def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, Any]:
    """Logical ID -> resource, for every resource of one type (template order)."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == resource_type
    }


# ------------------------------------------------------------------------- literals


def _literal(value: Any, where: str) -> Any:
    """The value itself; an intrinsic function (which only CloudFormation can resolve) fails."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in {"Ref", "Condition"} | {
            f"Fn::{name}" for name in (*_FN_TAGS, "GetAtt")
        }:
            raise TemplateError(f"{where}: intrinsic {value!r} cannot be created locally")
        return {key: _literal(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_literal(item, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def _check_known(logical_id: str, properties: Mapping[str, Any], known: Iterable[str]) -> None:
    unknown = sorted(set(properties) - set(known))
    if unknown:
        raise TemplateError(f"{logical_id}: cannot reproduce properties {unknown}")


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


# ------------------------------------------------------------------------- buckets

# Properties that carry deploy-time only information (names come from physical_name).
_BUCKET_IGNORED = {"BucketName", "Tags", "NotificationConfiguration"}
_BUCKET_HANDLED = {
    "VersioningConfiguration",
    "PublicAccessBlockConfiguration",
    "BucketEncryption",
    "LifecycleConfiguration",
    "OwnershipControls",
}


def _lifecycle_rule(rule: Mapping[str, Any], where: str) -> dict[str, Any]:
    _check_known(
        where,
        rule,
        {
            "Id",
            "Status",
            "Prefix",
            "NoncurrentVersionExpiration",
            "NoncurrentVersionExpirationInDays",
            "ExpiredObjectDeleteMarker",
            "ExpirationInDays",
            "AbortIncompleteMultipartUpload",
        },
    )
    out: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Id" in rule:
        out["ID"] = rule["Id"]
    expiration: dict[str, Any] = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = _as_bool(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        out["Expiration"] = expiration
    noncurrent = dict(rule.get("NoncurrentVersionExpiration", {}))
    if "NoncurrentVersionExpirationInDays" in rule:
        noncurrent["NoncurrentDays"] = rule["NoncurrentVersionExpirationInDays"]
    if noncurrent:
        out["NoncurrentVersionExpiration"] = {k: int(v) for k, v in noncurrent.items()}
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
    return out


def create_bucket(s3_client: Any, logical_id: str, resource: Mapping[str, Any], name: str) -> None:
    """Create one bucket with the configuration its template resource declares."""
    properties = _literal(
        {k: v for k, v in resource.get("Properties", {}).items() if k not in _BUCKET_IGNORED},
        logical_id,
    )
    _check_known(logical_id, properties, _BUCKET_HANDLED)
    region = s3_client.meta.region_name
    kwargs: dict[str, Any] = {"Bucket": name}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with contextlib.suppress(s3_client.exceptions.BucketAlreadyOwnedByYou):
        s3_client.create_bucket(**kwargs)

    if "OwnershipControls" in properties:
        s3_client.put_bucket_ownership_controls(
            Bucket=name, OwnershipControls=properties["OwnershipControls"]
        )
    if "PublicAccessBlockConfiguration" in properties:
        block = {k: _as_bool(v) for k, v in properties["PublicAccessBlockConfiguration"].items()}
        s3_client.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
    if "BucketEncryption" in properties:
        rules = []
        for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]:
            api_rule: dict[str, Any] = {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]
            }
            if "BucketKeyEnabled" in rule:
                api_rule["BucketKeyEnabled"] = _as_bool(rule["BucketKeyEnabled"])
            rules.append(api_rule)
        s3_client.put_bucket_encryption(
            Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules}
        )
    if "VersioningConfiguration" in properties:
        status = properties["VersioningConfiguration"]["Status"]
        s3_client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
    if "LifecycleConfiguration" in properties:
        rules = [
            _lifecycle_rule(rule, f"{logical_id}.LifecycleConfiguration.Rules[{i}]")
            for i, rule in enumerate(properties["LifecycleConfiguration"]["Rules"])
        ]
        s3_client.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": rules}
        )


# ------------------------------------------------------------------------- tables

_TABLE_IGNORED = {"TableName", "Tags", "ContributorInsightsSpecification"}
_TABLE_HANDLED = {
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "SSESpecification",
    "TimeToLiveSpecification",
    "PointInTimeRecoverySpecification",
    "DeletionProtectionEnabled",
    "TableClass",
}


def _index(index: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"}


def _throughput(value: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in value.items()}


def create_table(
    dynamodb_client: Any, logical_id: str, resource: Mapping[str, Any], name: str
) -> None:
    """Create one table (keys, indexes, stream, SSE) then set its TTL and PITR."""
    properties = _literal(
        {k: v for k, v in resource.get("Properties", {}).items() if k not in _TABLE_IGNORED},
        logical_id,
    )
    _check_known(logical_id, properties, _TABLE_HANDLED)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if "ProvisionedThroughput" in properties:
        kwargs["ProvisionedThroughput"] = _throughput(properties["ProvisionedThroughput"])
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if key in properties:
            indexes = [_index(index) for index in properties[key]]
            for index in indexes:
                if "ProvisionedThroughput" in index:
                    index["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
            kwargs[key] = indexes
    if "StreamSpecification" in properties:
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": properties["StreamSpecification"]["StreamViewType"],
        }
    if "SSESpecification" in properties:
        sse = properties["SSESpecification"]
        api_sse: dict[str, Any] = {"Enabled": _as_bool(sse.get("SSEEnabled", False))}
        if "SSEType" in sse:
            api_sse["SSEType"] = sse["SSEType"]
        if "KMSMasterKeyId" in sse:
            api_sse["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
        kwargs["SSESpecification"] = api_sse
    if "DeletionProtectionEnabled" in properties:
        kwargs["DeletionProtectionEnabled"] = _as_bool(properties["DeletionProtectionEnabled"])
    if "TableClass" in properties:
        kwargs["TableClass"] = properties["TableClass"]
    try:
        dynamodb_client.create_table(**kwargs)
    except dynamodb_client.exceptions.ResourceInUseException:
        return  # already there (a restarted local stack): its settings were applied then
    dynamodb_client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )

    ttl = properties.get("TimeToLiveSpecification")
    if ttl and _as_bool(ttl.get("Enabled", False)):
        dynamodb_client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    pitr = properties.get("PointInTimeRecoverySpecification")
    if pitr and _as_bool(pitr.get("PointInTimeRecoveryEnabled", False)):
        dynamodb_client.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


# ------------------------------------------------------------------------- queues

_QUEUE_IGNORED = {"QueueName", "Tags"}
_QUEUE_ATTRIBUTES = {
    "SqsManagedSseEnabled",
    "MessageRetentionPeriod",
    "VisibilityTimeout",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "MaximumMessageSize",
}


def create_queue(
    sqs_client: Any,
    logical_id: str,
    resource: Mapping[str, Any],
    name: str,
    arns: Mapping[str, str],
) -> tuple[str, str]:
    """Create one queue with its attributes and redrive policy (its dead-letter queue must be
    in ``arns``, logical ID -> ARN); returns its URL and ARN."""
    properties = dict(resource.get("Properties", {}))
    redrive = properties.pop("RedrivePolicy", None)
    properties = _literal(
        {k: v for k, v in properties.items() if k not in _QUEUE_IGNORED}, logical_id
    )
    _check_known(logical_id, properties, _QUEUE_ATTRIBUTES)
    attributes = {
        key: (str(_as_bool(value)).lower() if key == "SqsManagedSseEnabled" else str(value))
        for key, value in properties.items()
    }
    if redrive is not None:
        target = redrive.get("deadLetterTargetArn")
        if not (isinstance(target, dict) and target.get("Fn::GetAtt", [None, None])[1] == "Arn"):
            raise TemplateError(f"{logical_id}: deadLetterTargetArn must be !GetAtt Queue.Arn")
        dead_letter = target["Fn::GetAtt"][0]
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": arns[dead_letter],
                "maxReceiveCount": int(redrive["maxReceiveCount"]),
            }
        )
    url = str(sqs_client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    answer = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, str(answer["Attributes"]["QueueArn"])


def _dead_letter_target(resource: Mapping[str, Any]) -> str | None:
    target = resource.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn")
    return target["Fn::GetAtt"][0] if isinstance(target, dict) and "Fn::GetAtt" in target else None


def create_queues(
    sqs_client: Any, template: Mapping[str, Any], prefix: str = "chainpress"
) -> tuple[dict[str, str], dict[str, str]]:
    """Create every queue (dead-letter queues first); returns logical ID -> URL (what ``Ref``
    answers for a queue) and logical ID -> ARN."""
    queues = resources_of_type(template, QUEUE)
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    while len(urls) < len(queues):
        ready = [
            logical_id
            for logical_id, resource in queues.items()
            if logical_id not in urls and _dead_letter_target(resource) in (None, *arns)
        ]
        if not ready:
            raise TemplateError(
                f"queues with unknown dead-letter targets: {sorted(set(queues) - set(urls))}"
            )
        for logical_id in ready:
            urls[logical_id], arns[logical_id] = create_queue(
                sqs_client, logical_id, queues[logical_id], physical_name(logical_id, prefix), arns
            )
    return urls, arns


def create_resources(
    s3_client: Any,
    dynamodb_client: Any,
    template: Mapping[str, Any],
    *,
    prefix: str = "chainpress",
    sqs_client: Any = None,
    secrets_client: Any = None,
) -> dict[str, str]:
    """Create every bucket and table (and queue, given ``sqs_client``; secret, given
    ``secrets_client``) of ``template``; returns logical ID -> what ``Ref`` answers
    (names; a queue's URL; a secret's ARN).

    Idempotent for a restarted local stack: existing buckets are reconfigured, existing
    tables are left as they are.
    """
    names: dict[str, str] = {}
    for logical_id, resource in resources_of_type(template, BUCKET).items():
        names[logical_id] = physical_name(logical_id, prefix)
        resource = _parameter_defaults(resource, template.get("Parameters", {}))
        create_bucket(s3_client, logical_id, resource, names[logical_id])
    for logical_id, resource in resources_of_type(template, TABLE).items():
        names[logical_id] = physical_name(logical_id, prefix)
        create_table(dynamodb_client, logical_id, resource, names[logical_id])
    if sqs_client is not None:
        names.update(create_queues(sqs_client, template, prefix)[0])
    if secrets_client is not None:
        for logical_id, resource in resources_of_type(template, SECRET).items():
            name = physical_name(logical_id, prefix)
            names[logical_id] = create_secret(secrets_client, logical_id, resource, name)
    return names


def _parameter_defaults(value: Any, parameters: Mapping[str, Any]) -> Any:
    """``value`` with each ``Ref`` to a parameter that has a default replaced by that default
    (what a stack deployed without overrides gets)."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and "Default" in parameters.get(value["Ref"], {}):
            return parameters[value["Ref"]]["Default"]
        return {key: _parameter_defaults(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [_parameter_defaults(item, parameters) for item in value]
    return value


def create_secret(client: Any, logical_id: str, resource: Mapping[str, Any], name: str) -> str:
    """A secret with a generated string as the template asks (``GenerateSecretString``'s
    length and character classes); an existing one is kept. Returns its ARN (what ``Ref``
    answers)."""
    properties = resource.get("Properties", {})
    _check_known(logical_id, properties, {"Description", "GenerateSecretString"})
    generate = _literal(properties.get("GenerateSecretString", {}), logical_id)
    _check_known(logical_id, generate, {"PasswordLength", "ExcludePunctuation"})
    alphabet = string.ascii_letters + string.digits
    if not _as_bool(generate.get("ExcludePunctuation", False)):
        alphabet += string.punctuation
    length = int(generate.get("PasswordLength", 32))
    try:
        return str(client.describe_secret(SecretId=name)["ARN"])
    except client.exceptions.ResourceNotFoundException:
        pass
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


def secret_value(secrets_client: Any, arn: str) -> str:
    return str(secrets_client.get_secret_value(SecretId=arn)["SecretString"])


# ------------------------------------------------------------------------- functions


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_policy_statements(
    template: Mapping[str, Any], logical_id: str
) -> list[dict[str, Any]]:
    """The explicit IAM statements of a function's ``Policies``.

    Managed policy names and SAM policy templates are refused: every permission of a function
    must be spelled out so that it can be compared with what the code calls.
    """
    resource = template["Resources"][logical_id]
    if resource.get("Type") != FUNCTION:
        raise TemplateError(f"{logical_id} is not an {FUNCTION}")
    statements: list[dict[str, Any]] = []
    for policy in _as_list(resource.get("Properties", {}).get("Policies", [])):
        if not (isinstance(policy, dict) and "Statement" in policy):
            raise TemplateError(f"{logical_id}: only inline policy statements allowed: {policy!r}")
        statements.extend(_as_list(policy["Statement"]))
    return statements


def function_policy_actions(template: Mapping[str, Any], logical_id: str) -> set[str]:
    """Every IAM action a function's ``Allow`` statements grant (``dynamodb:GetItem``, ...)."""
    return {
        action
        for statement in function_policy_statements(template, logical_id)
        if statement.get("Effect") == "Allow"
        for action in _as_list(statement["Action"])
    }


@dataclass(frozen=True)
class S3Subscription:
    """One S3 event of a function: which bucket, which event types, which keys."""

    function: str
    bucket: str
    events: tuple[str, ...]
    prefix: str
    suffix: str

    def matches(self, bucket_logical_id: str, event_name: str, key: str) -> bool:
        """Does an event (``ObjectCreated:Put``, raw key) on that bucket reach the function?"""
        return (
            bucket_logical_id == self.bucket
            and any(_event_matches(pattern, event_name) for pattern in self.events)
            and key.startswith(self.prefix)
            and key.endswith(self.suffix)
        )


def _event_matches(pattern: str, event_name: str) -> bool:
    pattern = pattern.removeprefix("s3:")
    event_name = event_name.removeprefix("s3:")
    if pattern.endswith("*"):
        return event_name.startswith(pattern[:-1])
    return event_name == pattern


def s3_subscriptions(template: Mapping[str, Any]) -> list[S3Subscription]:
    """Every S3 event of every function (the local stack routes uploads with these)."""
    found: list[S3Subscription] = []
    for function, resource in resources_of_type(template, FUNCTION).items():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "S3":
                continue
            props = event["Properties"]
            bucket = props["Bucket"]
            if not (isinstance(bucket, dict) and "Ref" in bucket):
                raise TemplateError(f"{function}: S3 event bucket must be a Ref: {bucket!r}")
            rules = {
                rule["Name"].lower(): rule["Value"]
                for rule in props.get("Filter", {}).get("S3Key", {}).get("Rules", [])
            }
            found.append(
                S3Subscription(
                    function=function,
                    bucket=bucket["Ref"],
                    events=tuple(_as_list(props["Events"])),
                    prefix=rules.get("prefix", ""),
                    suffix=rules.get("suffix", ""),
                )
            )
    return found


@dataclass(frozen=True)
class SqsSubscription:
    """The SQS event of a function, as Lambda's event source mapping applies it."""

    function: str
    queue: str  # logical ID
    batch_size: int
    report_item_failures: bool
    maximum_concurrency: int | None


def sqs_subscriptions(template: Mapping[str, Any]) -> list[SqsSubscription]:
    found: list[SqsSubscription] = []
    for function, resource in resources_of_type(template, FUNCTION).items():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "SQS":
                continue
            props = event["Properties"]
            queue = props["Queue"]
            if not (isinstance(queue, dict) and queue.get("Fn::GetAtt", [None, None])[1] == "Arn"):
                raise TemplateError(f"{function}: SQS event queue must be !GetAtt Queue.Arn")
            scaling = props.get("ScalingConfig", {})
            found.append(
                SqsSubscription(
                    function=function,
                    queue=queue["Fn::GetAtt"][0],
                    batch_size=int(props.get("BatchSize", 10)),
                    report_item_failures="ReportBatchItemFailures"
                    in props.get("FunctionResponseTypes", []),
                    maximum_concurrency=int(scaling["MaximumConcurrency"])
                    if "MaximumConcurrency" in scaling
                    else None,
                )
            )
    return found


def stream_filter_patterns(template: Mapping[str, Any], logical_id: str) -> list[dict[str, Any]]:
    """The parsed ``FilterCriteria`` patterns of a function's DynamoDB stream events."""
    resource = template["Resources"][logical_id]
    patterns: list[dict[str, Any]] = []
    for event in resource.get("Properties", {}).get("Events", {}).values():
        if event.get("Type") != "DynamoDB":
            continue
        for item in event["Properties"].get("FilterCriteria", {}).get("Filters", []):
            patterns.append(json.loads(item["Pattern"]))
    return patterns


def filter_matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Lambda event filtering, the subset templates use: nested keys, lists of alternatives,
    exact values, ``{"prefix": ...}``, ``{"exists": bool}``, ``{"anything-but": [...]}``."""
    for key, expected in pattern.items():
        present = isinstance(record, Mapping) and key in record
        if isinstance(expected, Mapping):
            if not present or not filter_matches(expected, record[key]):
                return False
            continue
        alternatives = _as_list(expected)
        value = record[key] if present else None
        if not any(_value_matches(alt, present, value) for alt in alternatives):
            return False
    return True


def _value_matches(alternative: Any, present: bool, value: Any) -> bool:
    if isinstance(alternative, Mapping):
        ((operator, operand),) = alternative.items()
        if operator == "exists":
            return present is bool(operand)
        if operator == "prefix":
            return present and isinstance(value, str) and value.startswith(operand)
        if operator == "anything-but":
            return present and value not in _as_list(operand)
        raise TemplateError(f"filter operator {operator!r} is not supported locally")
    return present and value == alternative
