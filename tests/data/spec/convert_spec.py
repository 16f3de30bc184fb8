"""Convert a CommonMark-style spec text (``spec.txt``) into the JSON the spec tests read.

Run once, on a local copy of the spec (no network): the GFM spec ships in the ``marko`` sdist
(``tests/spec/gfm.txt``, cmark-gfm's ``test/spec.txt``), the CommonMark spec beside it
(``tests/spec/commonmark.txt``):

    python tests/data/spec/convert_spec.py marko-2.2.4/tests/spec/gfm.txt \
        tests/data/spec/gfm-0.29.json

Each example: ``markdown``, ``html``, ``example`` (its number), ``section``, ``extension`` (the
word after "example" on the fence, e.g. "table"; "" for a CommonMark example) and
``start_line``, the same fields as the spec's own ``spec_tests.py --dump-tests``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FENCE = "`" * 32


def examples(text: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    section = ""
    state = 0  # 0 prose, 1 markdown, 2 html
    markdown: list[str] = []
    output: list[str] = []
    extension = ""
    start = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        stripped = line.rstrip("\n")
        if state == 0:
            if stripped.startswith(FENCE + " example"):
                state, markdown, output, start = 1, [], [], number
                extension = stripped[len(FENCE + " example") :].strip()
            elif stripped.startswith("#"):
                section = stripped.lstrip("#").strip()
        elif state == 1:
            if stripped == ".":
                state = 2
            else:
                markdown.append(line)
        elif stripped == FENCE:
            found.append(
                {
                    "markdown": "".join(markdown).replace("→", "\t"),
                    "html": "".join(output).replace("→", "\t"),
                    "example": len(found) + 1,
                    "section": section,
                    "extension": extension,
                    "start_line": start,
                }
            )
            state = 0
        else:
            output.append(line)
    return found


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    found = examples(source.read_text(encoding="utf-8"))
    target.write_text(json.dumps(found, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(found)} examples -> {target}")


if __name__ == "__main__":
    main()
