"""Parsing and validating Markdown sources: every rejection says what is wrong and on which line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainpress import markdown
from chainpress.content import (
    ALLOWED_KEYS,
    MAX_SOURCE_BYTES,
    ContentError,
    ParsedArticle,
    media_content_type,
    parse_source,
    reading_minutes,
    slug_for_key,
    summarize,
    word_count,
)
from chainpress.settings import SiteSettings

SITE = SiteSettings(timezone="Asia/Shanghai", base_url="https://news.example")
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
KEY = "articles/2025/链圈 news.md"


def source(front: str, body: str = "Bitcoin rose today.\n") -> bytes:
    return f"---\n{front}---\n{body}".encode()


def parse(data: bytes, key: str = KEY) -> ParsedArticle:
    return parse_source(key, data, settings=SITE, now=NOW)


def error_of(data: bytes, key: str = KEY) -> ContentError:
    with pytest.raises(ContentError) as info:
        parse(data, key)
    return info.value


def test_a_complete_article() -> None:
    data = source(
        "title: '比特币 ETF 获批'\n"
        "date: 2025-05-01 08:30\n"
        "author: Alice Chen\n"
        "category: bitcoin\n"
        "tags: [' ETF ', etf, Bitcoin, 'Layer 2', layer-2]\n"
        "summary: The SEC approved it.\n"
        "cover: /media/etf.png\n"
        "aliases: [/old/etf/]\n",
        "## Heading\n\nFirst paragraph.\n",
    )
    article = parse(data).article
    assert article.title == "比特币 ETF 获批"
    assert article.slug == "链圈-news"  # from the file name, CJK kept
    # Naive date in the site's timezone (UTC+8), stored in UTC.
    assert article.date == dt.datetime(2025, 5, 1, 0, 30, tzinfo=dt.UTC)
    assert article.tags == ("ETF", "Bitcoin", "Layer 2")  # first spelling of each tag key kept
    assert article.category == "bitcoin"
    assert article.author == "Alice Chen"
    assert article.summary == "The SEC approved it."
    assert article.cover == "/media/etf.png"
    assert article.aliases == ("/old/etf/",)
    assert article.status == "live"
    assert article.source_key == KEY
    assert article.content_hash == hashlib.sha256(data).hexdigest()
    assert article.word_count == 3  # "Heading" + "First paragraph."
    assert article.reading_minutes == 1


def test_bom_and_crlf_read_like_plain_lf() -> None:
    lf = source("title: Hello\ndate: 2025-01-02\n", "One.\n\nTwo.\n")
    crlf = b"\xef\xbb\xbf" + lf.replace(b"\n", b"\r\n")
    plain, other = parse(lf), parse(crlf)
    assert other.body == plain.body
    assert other.article.content_hash != plain.article.content_hash  # hash of the exact bytes
    assert other.article == dataclasses.replace(
        plain.article, content_hash=other.article.content_hash
    )
    assert (other.article.date, other.article.summary) == (plain.article.date, "One. Two.")


def test_bom_and_crlf_keep_yaml_line_numbers() -> None:
    data = b"\xef\xbb\xbf---\r\ntitle: ok\r\ntags: [a\r\nauthor: x\r\n---\r\n"
    assert error_of(data).line == 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-05-01T08:30:00+02:00", dt.datetime(2025, 5, 1, 6, 30, tzinfo=dt.UTC)),
        ("2025-05-01", dt.datetime(2025, 4, 30, 16, 0, tzinfo=dt.UTC)),  # local midnight
        ("'2025-05-01T08:30:00Z'", dt.datetime(2025, 5, 1, 8, 30, tzinfo=dt.UTC)),
        ("'2025-05-01 08:30'", dt.datetime(2025, 5, 1, 0, 30, tzinfo=dt.UTC)),
    ],
)
def test_dates_yaml_and_iso(value: str, expected: dt.datetime) -> None:
    assert parse(source(f"title: t\ndate: {value}\n")).article.date == expected


def test_missing_date_is_now() -> None:
    assert parse(source("title: t\n")).article.date == NOW


@pytest.mark.parametrize(
    ("front", "status"),
    [
        ("date: 2025-06-01T12:00:00Z\n", "live"),
        ("date: 2025-06-01T12:00:01Z\n", "scheduled"),
        ("date: 2030-01-01\ndraft: true\n", "draft"),
        ("date: 2020-01-01\ndraft: true\n", "draft"),
        ("draft: false\n", "live"),
    ],
)
def test_status(front: str, status: str) -> None:
    assert parse(source("title: t\n" + front)).article.status == status


def test_explicit_slug_is_normalised_not_rewritten() -> None:
    assert parse(source("title: t\nslug: ｂｔｃ-新闻-2025\n")).article.slug == "btc-新闻-2025"
    assert parse(source("title: t\nslug: 2025\n")).article.slug == "2025"


@pytest.mark.parametrize(
    ("key", "slug"),
    [
        ("articles/2022/链圈 news.md", "链圈-news"),
        ("articles/Bitcoin ETF Approved.md", "bitcoin-etf-approved"),
        ("articles/Café 比特币.md", "cafe-比特币"),
        ("articles/ﾋﾞｯﾄｺｲﾝ.md", "ビットコイン"),
        ("articles/a.b.md", "a-b"),
    ],
)
def test_slug_for_key(key: str, slug: str) -> None:
    assert slug_for_key(key) == slug


def test_file_name_without_letters_needs_a_slug() -> None:
    with pytest.raises(ContentError, match="slug"):
        slug_for_key("articles/!!!.md")
    assert parse(source("title: t\nslug: fine\n"), key="articles/!!!.md").article.slug == "fine"


def test_invalid_utf8_after_a_bom_reports_the_file_offset() -> None:
    error = error_of(b"\xef\xbb\xbf---\ntitle: a\n---\n\xc3(")
    assert "byte 0xc3 at byte 20" in error.message  # 3 BOM + 17
    assert error.line == 4


def test_yaml_character_error_line_counts_lines_not_bytes() -> None:
    # libyaml reports byte offsets: CJK before the bad character must not shift the line.
    error = error_of(source("title: 比特币比特币比特币\nauthor: 链圈链圈链圈\nsummary: x\x07\n"))
    assert error.line == 4


def test_markup_that_once_needed_a_budget_renders() -> None:
    # markdown-it-py needed limits on markup characters, lines and unclosed "["; cmark-gfm is
    # linear, so all of these are fine now (well within the 1 MiB source limit).
    body = "*a* " * 30_000 + "\n\n" + "- item\n" * 20_000 + "\nx " + "[" * 10_000 + "\n"
    parsed = parse(source("title: a\n", body))
    assert parsed.article.word_count == 30_000 + 20_000 + 1  # a run of "[" is no word
    assert "[" * 10_000 in parsed.body.text


def test_limits_leave_room_for_long_articles() -> None:
    # 100 articles of 1,000 words (ten paragraphs with a link and a bold phrase each, two
    # headings, a list) in one file.
    words = " ".join(["market"] * 94)
    paragraph = f"Bitcoin **rose** on [Tuesday](https://x.example/a) as {words}.\n\n"
    article = "## Markets\n\n" + paragraph * 5 + "- one\n- two\n- three\n\n## Outlook\n\n"
    body = (article + paragraph * 5) * 100
    assert parse(source("title: a\n", body)).article.word_count == 99_500


def test_bodies_beyond_the_markdown_limits_are_refused_for_the_editor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = error_of(source("title: a\n", ">" * (markdown.MAX_NESTING + 1) + " deep\n"))
    # 1,001 quotes and the paragraph inside them
    assert error.message.startswith("quotes, lists, emphasis or HTML elements nest 1,002 levels")
    assert "flatten" in error.message
    assert parse(source("title: a\n", ">" * 300 + " deep\n")).body.text == "deep"
    monkeypatch.setattr(markdown, "MAX_HTML_CHARS", 1024 * 1024)
    notes = "See[^a].\n\n" * 5_000 + "[^a]: A note.\n"  # each reference adds a back-link
    error = error_of(source("title: a\n", notes))
    assert "MiB of HTML (at most 1 MiB" in error.message


def _big() -> bytes:
    return source("title: t\n", "x" * MAX_SOURCE_BYTES)


@pytest.mark.parametrize(
    ("data", "needle", "line"),
    [
        (b"", "empty", None),
        (b"\xef\xbb\xbf \r\n\n", "empty", None),
        (b"---\ntitle: a\n---\nok \xff\xfe\n", "byte 0xff at byte 20", 4),
        (b"---\ntitle: \xe6\xaf\n---\n", "not valid UTF-8", 2),
        (b"\xff\xfe-\x00-\x00-\x00", "binary file (NUL byte at byte 3)", 1),
        (b"---\ntitle: a\n---\nx\x00", "binary", 4),
        (b"# Title\n\ntext\n", "no front matter", 1),
        (b"\n---\ntitle: a\n---\n", "no front matter", 1),
        (b"---\ntitle: a\n\nbody without closing line\n", "not closed", 1),
        (b"---\ntitle: ok\ntitle2: : :\n---\n", "not valid YAML", 3),
        (b"---\ntitle: ok\nauthor: x\n  bad: indent\n---\n", "not valid YAML", 4),
        (b"---\ntitle: ok\ndate: 2025-13-45\n---\n", "invalid date '2025-13-45'", 3),
        (b"---\ntitle: ok\n\x07: x\n---\n", "character YAML does not allow (U+0007)", 3),
        (b"---\n- title\n- x\n---\n", "must be 'key: value' lines", 2),
        (b"---\njust text\n---\n", "must be 'key: value' lines", 2),
        (b"---\nauthor: x\n---\n", "non-empty 'title:'", 1),
        (b"---\nauthor: x\ntitle: '  '\n---\n", "non-empty 'title:'", 3),
        (b"---\ntitle: [a, b]\n---\n", "title must be text, not a list", 2),
        (b"---\ntitle: a\ndate: next tuesday\n---\n", "cannot read date 'next tuesday'", 3),
        (b"---\ntitle: a\ndate: [2025]\n---\n", "date must be a date", 3),
        (b"---\ntitle: a\ndate: 1066-10-14\n---\n", "out of range", 3),
        (b"---\ntitle: a\ndraft: maybe\n---\n", "draft must be true or false", 3),
        (b"---\ntitle: a\ncategory: gossip\n---\n", "'gossip' is not one of", 3),
        (b"---\ntitle: a\ntags: bitcoin\n---\n", "tags must be a list", 3),
        (b"---\ntitle: a\ntags:\n  - ok\n  - [x]\n---\n", "tag 2 must be text", 3),
        (b"---\ntitle: a\ntags: [ok, '  ']\n---\n", "tag 2 is empty", 3),
        (b"---\ntitle: a\ncover: javascript:alert(1)\n---\n", "cover", 3),
        (b"---\ntitle: a\nslug: ''\n---\n", "slug '' is not allowed", 3),
    ],
)
def test_errors_say_what_and_where(data: bytes, needle: str, line: int | None) -> None:
    error = error_of(data)
    assert needle in error.message
    assert error.line == line


def test_too_large() -> None:
    error = error_of(_big())
    assert "too large" in error.message
    assert "1,048,576" in error.message


def test_exactly_the_limit_is_accepted() -> None:
    head = source("title: t\n", "")
    data = head + b"a" * (MAX_SOURCE_BYTES - len(head))
    assert len(data) == MAX_SOURCE_BYTES
    assert parse(data).article.word_count == 1


def test_unknown_keys_are_listed_with_the_allowed_ones() -> None:
    error = error_of(source("title: a\nauthor: b\nTags: [x]\nlayout: post\n"))
    assert error.line == 4
    assert "'Tags', 'layout'" in error.message
    assert "allowed fields: " + ", ".join(ALLOWED_KEYS) in error.message


def test_category_error_lists_the_site_categories() -> None:
    message = error_of(source("title: a\ncategory: Bitcoin\n")).message
    assert "'Bitcoin' is not one of the site's categories: blockchain, digital-currency" in message
    assert "financial-management" in message


def test_empty_or_missing_category_is_allowed() -> None:
    assert parse(source("title: a\ncategory:\n")).article.category == ""
    assert parse(source("title: a\n")).article.category == ""


def test_more_than_ten_tags() -> None:
    eleven = ", ".join(f"t{n}" for n in range(11))
    error = error_of(source(f"title: a\ntags: [{eleven}]\n"))
    assert error.line == 3
    assert error.message == "too many tags (11): at most 10"
    ten_and_a_duplicate = ", ".join([*(f"t{n}" for n in range(10)), "T0"])
    assert len(parse(source(f"title: a\ntags: [{ten_and_a_duplicate}]\n")).article.tags) == 10


@pytest.mark.parametrize(
    "slug",
    [
        "a/b",
        "../etc",
        "a..b",
        "Has-Caps",
        "two words",
        "-lead",
        "trail-",
        "a--b",
        "%2e%2e",
        "x" * 201,
    ],
)
def test_unsafe_explicit_slug_is_an_error(slug: str) -> None:
    error = error_of(source(f"title: a\nslug: '{slug}'\n"))
    assert error.line == 3
    assert f"slug {slug!r} is not allowed" in error.message


@pytest.mark.parametrize("alias", ["old/path", "/a/../b", "//evil.example/x", "/a b", "/a\\\\b"])
def test_bad_aliases(alias: str) -> None:
    error = error_of(source(f'title: a\naliases: ["{alias}"]\n'))
    assert error.line == 3
    assert "must be a path on this site" in error.message


@pytest.mark.parametrize("zone", ["Mars/Olympus", "America", "../etc", ""])
def test_unknown_site_timezone_is_reported(zone: str) -> None:
    with pytest.raises(ContentError, match=r"site\.yaml"):
        parse_source(
            KEY,
            source("title: a\ndate: 2025-01-01\n"),
            settings=SiteSettings(timezone=zone),
            now=NOW,
        )


def test_summary_from_body_skips_headings_and_cuts_at_a_sentence() -> None:
    sentence = "Bitcoin rose five percent on Tuesday as traders priced in the approval. "
    body = "# Big news\n\n" + sentence * 2 + "\n\nAnother paragraph.\n"
    summary = parse(source("title: a\n", body)).article.summary
    assert summary == (sentence * 2).strip()  # 143 characters: both sentences fit
    long_body = "## Intro\n\n" + sentence * 5
    summary = parse(source("title: a\n", long_body)).article.summary
    assert summary == (sentence * 2).strip()


def test_summarize_cjk_counts_characters_as_wide() -> None:
    first = "比特币价格突破新高，机构资金持续流入。" * 3  # 57 characters
    text = first + "以太坊升级在即：开发者公布最新时间表，市场情绪明显回暖，成交量也随之放大。"
    summary = summarize(text)
    assert summary == first  # the next sentence (37 characters) would make 94 > 80
    assert len(summary) <= 80


def test_summarize_never_cuts_a_word() -> None:
    text = " ".join(["decentralisation"] * 20)  # no sentence end at all
    summary = summarize(text)
    assert summary.endswith("…")
    assert summary[:-1].split(" ") == ["decentralisation"] * len(summary[:-1].split(" "))
    assert len(summary) <= 161


def test_summarize_short_text_is_kept_whole() -> None:
    assert summarize("  Short   text\nhere ") == "Short text here"


def test_summarize_cjk_without_punctuation_cuts_between_characters() -> None:
    text = "区块链" * 40
    summary = summarize(text)
    assert summary == "区块链" * 26 + "区块" + "…"


def test_word_count_and_reading_time() -> None:
    assert word_count("比特币 price rose — sharply!") == 3 + 3
    assert reading_minutes("word " * 230) == 1
    assert reading_minutes("word " * 231) == 2
    assert reading_minutes("链" * 1000) == 2
    assert reading_minutes("") == 1
    article = parse(source("title: a\n", "链" * 500 + "\n\n" + "word " * 230)).article
    assert (article.word_count, article.reading_minutes) == (730, 2)


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("media/a.webp", "image/webp"),
        ("media/a.AVIF", "image/avif"),
        ("media/logo.svg", "image/svg+xml"),
        ("media/f.woff2", "font/woff2"),
        ("media/notes.md", "text/markdown; charset=utf-8"),
        ("media/photo.JPG", "image/jpeg"),
        ("media/clip.mp4", "video/mp4"),
        ("media/no-extension", "application/octet-stream"),
        ("media/x.unknownext", "application/octet-stream"),
    ],
)
def test_media_content_type(key: str, content_type: str) -> None:
    assert media_content_type(key) == content_type


def outcome(data: bytes) -> ParsedArticle | ContentError:
    try:
        return parse(data)
    except ContentError as exc:
        return exc


def _lines(data: bytes) -> int:
    """Lines in the file as an editor counts them (CRLF, CR and LF all end a line)."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_only_raise_content_error(data: bytes) -> None:
    result = outcome(data)  # anything but ContentError propagates and fails the test
    if isinstance(result, ContentError):
        assert result.message
        assert result.line is None or 1 <= result.line <= _lines(data)


_YAMLISH = st.lists(
    st.sampled_from([*"ab:-[]{}'\"!&*#|>%@`,? \n\t\r", "title: x\n", "date: ", "2025-"]),
    max_size=80,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_YAMLISH, st.text(max_size=300))
def test_arbitrary_front_matter_only_raises_content_error(front: str, body: str) -> None:
    data = f"---\n{front}\n---\n{body}".encode("utf-8", "surrogatepass")
    result = outcome(data)
    if isinstance(result, ContentError):
        assert result.message
        assert result.line is None or 1 <= result.line <= _lines(data)
    else:
        assert result.article.title


def test_links_use_the_sites_link_schemes() -> None:
    body = "[pin](ipfs://bafy/x) [get](magnet:?xt=urn:btih:abc) [run](javascript:alert(1))\n"
    html = parse(source("title: a\n", body)).body.html
    assert '<a href="ipfs://bafy/x">pin</a>' in html
    assert "<a>get</a>" in html
    assert "javascript" not in html
    magnet = dataclasses.replace(SITE, link_schemes=("magnet",))
    data = source("title: a\n", body)
    html = parse_source(KEY, data, settings=magnet, now=NOW).body.html
    assert '<a href="magnet:?xt=urn:btih:abc">get</a>' in html
    assert "<a>pin</a>" in html
