"""YAML input bounded before it expands: no anchors or aliases, no deep nesting.

A 446-byte document of nested aliases expands to billions of values once loaded (and any
message quoting it to gigabytes); 100,000 nested ``[`` overflow the loader's recursion. Both are
refused from the parser's event stream (libyaml when present: fast and not recursive) before
anything is built. Neither is needed by front matter or site.yaml. Pure (no AWS).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAX_DEPTH", "YamlShapeError", "check_shape"]

# Levels of nested lists/mappings allowed (front matter and site.yaml use three at most).
MAX_DEPTH = 16

_LOADER = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
_OPEN = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


class YamlShapeError(yaml.MarkedYAMLError):
    """Refused before loading; ``problem`` says why, ``problem_mark`` where (0-based line)."""


def check_shape(text: str) -> None:
    """Raise YamlShapeError on an anchor, an alias or nesting deeper than MAX_DEPTH; a syntax
    error raises the parser's own yaml.YAMLError."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        mark: Any = event.start_mark  # libyaml's marks have the same line/column
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise YamlShapeError(
                problem="YAML anchors and aliases (&name, *name) are not allowed: write the "
                "value out",
                problem_mark=mark,
            )
        if isinstance(event, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlShapeError(
                    problem=f"nested more than {MAX_DEPTH} levels deep",
                    problem_mark=mark,
                )
        elif isinstance(event, _CLOSE):
            depth -= 1
