"""The Lambda functions of template.yaml, run in this process from their own source files.

Each handler is loaded from ``functions/<name>/app.py`` by file path under a unique module name,
so the local stack runs exactly the code Lambda runs (not a copy, not a wrapper). One warm
"container" per function: invocations of the same function are serialised, as one Lambda
execution environment never runs two invocations at once, so module-level state behaves as it
does in production. Events and answers go through JSON, as they do on the Lambda wire.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from chainpress_dev.local.endpoint import ACCOUNT_ID, REGION
from chainpress_dev.local.template import FUNCTION, TemplateError

Handler = Callable[[Any, Any], Any]


@dataclasses.dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    client_context: Any = None
    identity: Any = None
    _deadline: float = dataclasses.field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionError(RuntimeError):
    """The handler raised (Lambda reports ``Unhandled``) or answered something not JSON."""


def _resolve(value: Any, names: Mapping[str, str], parameters: Mapping[str, Any]) -> str | None:
    """A literal, a ``Ref`` to a resource created locally or to a parameter with a default;
    None when unresolvable."""
    if isinstance(value, str | int | float | bool):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        if value["Ref"] in names:
            return names[value["Ref"]]
        default = parameters.get(value["Ref"], {}).get("Default")
        if default is not None:
            return _resolve(default, names, {})
    return None


def function_environment(
    template: Mapping[str, Any],
    logical_id: str,
    names: Mapping[str, str],
    overrides: Mapping[str, str],
) -> dict[str, str]:
    """A function's environment as template.yaml declares it (Globals, then the function's own).

    Values that only CloudFormation can compute (``!Sub`` names, ``!If`` on parameters) must be
    given in ``overrides``; anything else unresolvable is an error, so that a variable added to
    the template is never silently missing locally.
    """
    resource = template["Resources"][logical_id]
    if resource.get("Type") != FUNCTION:
        raise TemplateError(f"{logical_id} is not a function")
    declared: dict[str, Any] = {}
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {})
    declared.update(globals_env.get("Variables", {}))
    own_env = resource.get("Properties", {}).get("Environment", {})
    declared.update(own_env.get("Variables", {}))
    env: dict[str, str] = {}
    for name, value in declared.items():
        if name in overrides:
            env[name] = overrides[name]
            continue
        resolved = _resolve(value, names, template.get("Parameters", {}))
        if resolved is None:
            raise TemplateError(
                f"{logical_id}: environment variable {name} = {value!r} has no local value"
            )
        env[name] = resolved
    return env


def function_setting(template: Mapping[str, Any], logical_id: str, name: str, default: Any) -> Any:
    """A function property, falling back to Globals (``MemorySize``, ``Timeout``, ...)."""
    own = template["Resources"][logical_id].get("Properties", {})
    if name in own:
        return own[name]
    return template.get("Globals", {}).get("Function", {}).get(name, default)


_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables while a handler module is imported (Powertools reads them at import)."""
    with _ENV_LOCK:
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, old in saved.items():
                if old is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = old


class LocalFunction:
    """One function of the template, loaded from its source file."""

    def __init__(
        self,
        logical_id: str,
        source: Path,
        env: Mapping[str, str],
        *,
        memory_mb: int = 128,
        timeout_s: int = 3,
    ) -> None:
        self.logical_id = logical_id
        self.source = source
        self.env = dict(env)
        self.memory_mb = memory_mb
        self.timeout_s = timeout_s
        self.module: ModuleType | None = None
        self._handler: Handler | None = None
        self._lock = threading.Lock()
        self.invocations = 0
        self.errors = 0

    @property
    def name(self) -> str:
        return f"chainpress-local-{self.logical_id}"

    def load(self, handler: str = "app.lambda_handler") -> None:
        """Import the handler module from its file, with the function's environment set."""
        module_file, _, attribute = handler.rpartition(".")
        path = self.source / f"{module_file}.py"
        if not path.is_file():
            raise FileNotFoundError(f"{self.logical_id}: handler source {path} does not exist")
        module_name = f"_chainpress_local_{self.logical_id.lower()}_{module_file}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        # Registered before exec, as a normal import does (dataclasses and typing look it up).
        sys.modules[module_name] = module
        try:
            with _environment(self.env):
                spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        handler_fn = getattr(module, attribute, None)
        if not callable(handler_fn):
            raise ImportError(f"{path} has no callable {attribute}")
        self.module = module
        self._handler = handler_fn

    def unload(self) -> None:
        if self.module is not None:
            sys.modules.pop(self.module.__name__, None)
        self.module = None
        self._handler = None

    def invoke(self, event: Any) -> Any:
        """Run the handler on a JSON copy of ``event``; raises :class:`FunctionError`."""
        if self._handler is None:
            raise FunctionError(f"{self.logical_id} is not loaded")
        payload = json.loads(json.dumps(event))
        with self._lock:
            self.invocations += 1
            context = LambdaContext(self.name, self.memory_mb, self.timeout_s)
            try:
                result = self._handler(payload, context)
            except Exception as exc:
                self.errors += 1
                detail = "".join(traceback.format_exception(exc)).rstrip()
                raise FunctionError(f"{self.logical_id} failed:\n{detail}") from exc
        try:
            return json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            self.errors += 1
            raise FunctionError(f"{self.logical_id} answered something not JSON: {exc}") from exc
