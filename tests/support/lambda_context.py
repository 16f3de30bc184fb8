"""A stand-in for the Lambda context object: the attributes Powertools' Logger reads."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Context:
    function_name: str = "chainpress-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:chainpress-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
