"""An article page with every Markdown feature, and raw HTML with invalid values, passes the Nu
Html Checker (tests/support/vnu.py: vnu.jar with Java, installed by make test)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from chainpress.content import parse_source
from chainpress.render import Theme
from chainpress.settings import SiteSettings
from tests.support.vnu import html_errors

BODY = """## Introduction {#intro}

Bitcoin rose[^1] and fell[^note][^1]. See www.example.com, [IPFS](ipfs://bafy/x),
<https://例子.测试/a> and [a file](<my file.pdf>).

- [ ] todo
- [x] done
  1. nested

| left | centre | right |
|:-----|:------:|------:|
| 1    | 2      | 3     |

~~gone~~ <textarea> x <b>bold</b> <select> <kbd>Ctrl</kbd>

<img src="/m.png" width="100%" height="-3"> <img src="/n.png" width="640"> ![chart](/c.png "Chart")
![blocked](javascript:alert(1)) <img src="/no-alt.png">

<a href="my file.pdf" title="x">file</a> <a href="/\\\\host/x">odd</a> <td style="color: red">x</td>

<details open="yes"><summary>More</summary>

**bold** and <q cite="not a url">a quote</q>

</details>

<table><tr><td colspan="0" rowspan="-1" style="text-align: middle">a</td></tr></table>

<ol start="x"><li>a</li></ol> <h2 id="two words">raw heading</h2> <h3 id="">empty id</h3>

<!-- an unclosed comment

## Next {#next}

More text. ## Same {#intro}

```python
print("<b>")
```

[^1]: According to the exchange.
[^note]: Second.
"""


def test_an_article_page_passes_the_nu_html_checker(tmp_path: Path) -> None:
    settings = SiteSettings()
    source = f"---\ntitle: Every feature\ndate: 2024-05-01\n---\n{BODY}".encode()
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    parsed = parse_source("articles/every-feature.md", source, settings=settings, now=now)
    page = Theme(settings).article_page(
        parsed.article, parsed.body.html, previous=None, next=None, related=[]
    )
    assert '<h2 id="next">Next</h2>' in page  # after the unclosed comment
    assert 'width="640"' in page
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    assert html_errors([tmp_path / "page.html"]) == []
