"""Parsing and validating Markdown sources: every rejection says what is wrong and on which line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainpress import content, markdown
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


def test_explicit_slug_with_capitals_is_lowercased_with_a_warning() -> None:
    parsed = parse(source("title: a\nslug: hugo_convert_toJSON\n"))
    assert parsed.article.slug == "hugo_convert_tojson"
    assert parsed.warnings[0].line == 3
    assert "published as 'hugo_convert_tojson'" in parsed.warnings[0].message
    assert parse(source("title: a\nslug: Has-Caps\n")).article.slug == "has-caps"


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
        (b"Just text, and no heading to take a title from.\n", "no front matter", 1),
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
        (b"---\ntitle: a\ncategory: '!!!'\n---\n", "no letters or digits", 3),
        (b"---\ntitle: a\ntags: {x: 1}\n---\n", "tags must be a list", 3),
        (b"---\ntitle: a\nlang: english\n---\n", "'english' is not a language tag", 3),
        (b"---\ntitle: a\npublished: someday\n---\n", "cannot read published 'someday'", 3),
        (b"---\ntitle: a\nlastmod: [1]\n---\n", "lastmod must be a date", 3),
        (b"---\ntitle: a\nauthors: [[x]]\n---\n", "authors must be a name", 3),
        (b"---\ntitle: a\nimage: ../up.png\n---\n", "image '../up.png' must be", 3),
        (b"+++\ntitle = 'a'\ndate = nope\n+++\n", "not valid TOML", 3),
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


def test_unknown_keys_are_kept_and_reported_as_warnings_with_their_lines() -> None:
    parsed = parse(
        source("title: a\nsidebarDepth: 2\nTags: [x]\nlayout: post\neip: 20\nrequires: [20, 712]\n")
    )
    assert parsed.article.tags == ("x",)  # "Tags" is a spelling of tags, not unknown
    assert [(w.line, w.message.split(":")[0]) for w in parsed.warnings] == [
        (3, "unknown front matter field 'sidebarDepth'"),
        (5, "unknown front matter field 'layout'"),
        (6, "unknown front matter field 'eip'"),
        (7, "unknown front matter field 'requires'"),
    ]
    assert parsed.article.extra == {
        "sidebarDepth": 2,
        "layout": "post",
        "eip": 20,
        "requires": [20, 712],
    }
    assert "title" in ALLOWED_KEYS
    assert "translationKey" in ALLOWED_KEYS


def test_every_error_of_an_upload_is_reported_at_once_in_line_order() -> None:
    error = error_of(
        source(
            "title: [a]\ndate: someday\nunknown: x\ndraft: maybe\nslug: Bad Slug\n",
            ">" * (markdown.MAX_NESTING + 1) + " x",
        )
    )
    # The body's problem (quotes nested too deep) has no single line: it comes last.
    assert [p.line for p in error.problems] == [2, 3, 5, 6, None]
    assert "nest" in error.problems[-1].message
    assert "title must be text" in error.problems[0].message
    assert (error.message, error.line) == (error.problems[0].message, 2)
    assert [w.line for w in error.warnings] == [4]  # the unknown field


def test_a_category_named_by_its_label_is_the_configured_one() -> None:
    assert parse(source("title: a\ncategory: Bitcoin\n")).article.category == "bitcoin"
    assert parse(source("title: a\ncategory: digital currency\n")).article.category == (
        "digital-currency"
    )


def test_an_unconfigured_category_is_published_under_its_url_key_with_a_warning() -> None:
    parsed = parse(source("title: a\ncategory: ERC\n"))
    assert parsed.article.category == "erc"
    (warning,) = parsed.warnings
    assert warning.line == 3
    assert "'ERC' is not one of site.yaml's categories" in warning.message
    assert "/category/erc/" in warning.message
    assert "'- erc: ERC'" in warning.message


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


# -- real front matter: spellings, bundles, languages, dates -----------------------------------


def test_page_bundle_index_files_take_the_folder_name() -> None:
    assert slug_for_key("articles/developers/send-token-ethersjs/index.md") == (
        "send-token-ethersjs"
    )
    assert slug_for_key("articles/hugo/Image Processing/_index.md") == "image-processing"
    assert slug_for_key("articles/guide/01_history/README.md") == "01-history"
    assert slug_for_key("articles/index.md") == "index"  # the articles/ folder is no bundle
    assert slug_for_key("articles/notes/readme.md") == "readme"


def test_bundle_owners_nearest_first() -> None:
    assert content.bundle_owners("articles/a/b/img/x.png") == [
        ("articles/a/b/img/index.md", "x.png"),
        ("articles/a/b/img/_index.md", "x.png"),
        ("articles/a/b/img/README.md", "x.png"),
        ("articles/a/b/index.md", "img/x.png"),
        ("articles/a/b/README.md", "img/x.png"),
        ("articles/a/index.md", "b/img/x.png"),
        ("articles/a/README.md", "b/img/x.png"),
    ]
    assert content.bundle_owners("articles/x.png") == []


@pytest.mark.parametrize(
    ("front", "site_language", "slug", "language", "translation_key"),
    [
        ("lang: zh\n", "en", "send-token-zh", "zh", "send-token"),
        ("lang: zh_cn\n", "en", "send-token-zh-cn", "zh-CN", "send-token"),
        ("language: ZH-hans\n", "en", "send-token-zh-hans", "zh-Hans", "send-token"),
        ("lang: en\n", "en", "send-token", "en", "send-token"),
        ("lang: zh\n", "zh", "send-token", "zh", "send-token"),
        ("lang: zh\nslug: fa-song\n", "en", "fa-song", "zh", "send-token"),
        ("lang: zh\ntranslationKey: tokens\n", "en", "send-token-zh", "zh", "tokens"),
        ("translation_key: tokens\n", "en", "send-token", "", "tokens"),
        ("", "en", "send-token", "", ""),
    ],
)
def test_language_slug_and_translation_key(
    front: str, site_language: str, slug: str, language: str, translation_key: str
) -> None:
    article = parse_source(
        "articles/zh/send-token/index.md",
        source(f"title: t\n{front}"),
        settings=dataclasses.replace(SITE, language=site_language),
        now=NOW,
    ).article
    assert (article.slug, article.language, article.translation_key) == (
        slug,
        language,
        translation_key,
    )


@pytest.mark.parametrize(
    ("front", "expected", "date_only"),
    [
        ("date: 2021-03-09\n", dt.datetime(2021, 3, 8, 16, 0, tzinfo=dt.UTC), True),
        ("published: 2021-03-09\n", dt.datetime(2021, 3, 8, 16, 0, tzinfo=dt.UTC), True),
        ("pubDate: '2021/03/09'\n", dt.datetime(2021, 3, 8, 16, 0, tzinfo=dt.UTC), True),
        ("publishDate: 2021-03-09 10:00\n", dt.datetime(2021, 3, 9, 2, 0, tzinfo=dt.UTC), False),
        ("date: 2016-03-18 12:00:00 -0500\n", dt.datetime(2016, 3, 18, 17, tzinfo=dt.UTC), False),
        (
            "date: Tue, 09 Mar 2021 10:00:00 +0000\n",
            dt.datetime(2021, 3, 9, 10, tzinfo=dt.UTC),
            False,
        ),
        ("created: 2015-11-19\n", dt.datetime(2015, 11, 18, 16, 0, tzinfo=dt.UTC), True),
    ],
)
def test_date_spellings_and_date_only(front: str, expected: dt.datetime, date_only: bool) -> None:
    article = parse(source(f"title: t\n{front}")).article
    assert (article.date, article.date_only) == (expected, date_only)


def test_a_weaker_spelling_beside_a_stronger_one_is_kept_and_reported() -> None:
    parsed = parse(source("title: t\ncreated: 2015-11-19\ndate: 2016-01-01\n"))
    assert parsed.article.date == dt.datetime(2015, 12, 31, 16, 0, tzinfo=dt.UTC)
    (warning,) = parsed.warnings
    assert warning.line == 3
    assert "'created' is not used: 'date' (line 4) already gives the date" in warning.message
    assert parsed.article.extra == {"created": "2015-11-19"}


def test_updated_spellings() -> None:
    article = parse(source("title: t\ndate: 2024-01-01 10:00\nlastmod: 2024-02-01\n")).article
    assert article.updated == dt.datetime(2024, 1, 31, 16, 0, tzinfo=dt.UTC)
    assert article.updated_date_only
    assert parse(source("title: t\n")).article.updated is None


def test_summary_cover_and_author_spellings() -> None:
    article = parse(
        source(
            "title: t\ndescription: From the description.\nfeatured_image: /media/x.png\n"
            "authors: [Ann, {name: Bo, title: Editor}, Ann]\nauthor: Cy\n"
        )
    ).article
    assert article.summary == "From the description."
    assert article.cover == "/media/x.png"
    assert article.authors == ("Cy", "Ann", "Bo")  # author first, then authors, no repeats
    assert article.author == "Cy, Ann, Bo"
    assert parse(source("title: t\nauthor: Ann\n")).article.authors == ()  # one: author alone


def test_jekyll_published_false_is_a_draft_and_categories_give_category_and_tags() -> None:
    article = parse(
        source("title: t\npublished: false\ncategories: [Bitcoin, news, ETF]\ntags: etf, spot\n")
    ).article
    assert article.status == "draft"
    assert article.category == "bitcoin"
    assert article.tags == ("etf", "spot", "news")  # "ETF" is already a tag
    assert parse(source("title: t\npublished: true\n")).article.status == "live"


def test_docusaurus_slug_path_and_tag_mappings() -> None:
    article = parse(
        source("title: t\nslug: /wallet-setup\ntags: [{label: Wallets, permalink: /w}, x]\n")
    ).article
    assert (article.slug, article.tags) == ("wallet-setup", ("Wallets", "x"))


def test_relative_cover_resolves_inside_a_bundle_and_is_reported_elsewhere() -> None:
    bundle = parse(source("title: t\nimage: ./img/cover.png\n"), "articles/guide/intro/index.md")
    assert bundle.article.cover == "/articles/intro/img/cover.png"
    hugo = parse(source("title: t\ncover: {image: c.png, alt: x}\n"), "articles/a/index.md")
    assert hugo.article.cover == "/articles/a/c.png"
    flat = parse(source("title: t\nimage: cover.png\n"))
    assert flat.article.cover == ""
    assert "only works for a page bundle" in flat.warnings[0].message
    assert flat.article.extra == {"image": "cover.png"}


def test_no_front_matter_takes_the_title_from_the_first_heading() -> None:
    body = "\n```\n# not a heading\n```\n\n## 共识算法 {#consensus}\n\n正文。\n"
    parsed = parse(body.encode())
    assert parsed.article.title == "共识算法"
    assert parsed.warnings[0].line == 6
    assert "no front matter" in parsed.warnings[0].message
    assert "共识算法" not in parsed.body.html  # shown as the page title, not twice
    assert "正文" in parsed.body.html


def test_front_matter_without_title_uses_the_first_heading_silently() -> None:
    parsed = parse(source("date: 2024-01-01\n", "# Set up a **wallet**\n\nText.\n"))
    assert (parsed.article.title, parsed.warnings) == ("Set up a wallet", ())


def test_leading_blank_lines_before_the_front_matter() -> None:
    parsed = parse(b"\n\n---\ntitle: a\nlayout: x\n---\nbody\n")
    assert parsed.article.title == "a"
    assert parsed.warnings[0].line == 5


def test_toml_front_matter() -> None:
    parsed = parse(
        b'+++\ntitle = "TOML"\ndate = 2024-06-02T08:00:00+08:00\ntags = ["a"]\ntoc = true\n'
        b"[params]\nx = 1\n+++\nBody.\n"
    )
    assert parsed.article.title == "TOML"
    assert parsed.article.date == dt.datetime(2024, 6, 2, 0, 0, tzinfo=dt.UTC)
    assert [(w.line, w.message.split(":")[0]) for w in parsed.warnings] == [
        (5, "unknown front matter field 'toc'"),
        (6, "unknown front matter field 'params'"),
    ]


def test_extra_fields_are_bounded_and_the_rest_reported() -> None:
    big = "x" * (content.MAX_EXTRA_BYTES // 2)
    parsed = parse(source(f"title: t\na: {big}\nb: {big}\nc: 2021-01-01\n"))
    assert set(parsed.article.extra) == {"a", "c"}
    assert parsed.article.extra["c"] == "2021-01-01"
    assert any("'b' is not kept" in w.message for w in parsed.warnings)


def test_jekyll_posts_take_slug_and_date_from_the_file_name() -> None:
    key = "articles/blog/_posts/2023-05-01-proof-of-reserves.md"
    assert slug_for_key(key) == "proof-of-reserves"
    article = parse(source("title: t\n"), key).article
    assert (article.slug, article.date, article.date_only) == (
        "proof-of-reserves",
        dt.datetime(2023, 4, 30, 16, 0, tzinfo=dt.UTC),
        True,
    )
    dated = parse(source("title: t\ndate: 2024-01-01 10:00\n"), key).article
    assert dated.date == dt.datetime(2024, 1, 1, 2, 0, tzinfo=dt.UTC)  # the front matter wins
    assert slug_for_key("articles/notes/2023-05-01-x.md") == "2023-05-01-x"  # not a post


def test_a_title_of_the_wrong_type_is_an_error_even_with_a_heading() -> None:
    error = error_of(source("title: [a]\n", "# Heading\n"))
    assert [p.message for p in error.problems] == ["title must be text, not a list"]


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


def test_a_day_written_without_zero_padding_is_a_date() -> None:
    article = parse(source("title: t\npublished: '2024-07-4'\n")).article
    assert (article.date, article.date_only) == (dt.datetime(2024, 7, 3, 16, tzinfo=dt.UTC), True)
    assert parse(source("title: t\ndate: 2024/7/04\n")).article.date_only
    assert "cannot read" in error_of(source("title: t\ndate: '2024-13-4'\n")).message


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("articles/07_ethereum/intro.md", "07-ethereum-intro"),
        ("articles/guide/07_ethereum/intro/index.md", "07-ethereum-intro"),
        ("articles/intro.md", "intro-2"),
    ],
)
def test_a_taken_slug_tells_the_editor_which_file_has_it_and_what_to_write(
    key: str, suggestion: str
) -> None:
    message = content.slug_taken_message("intro", "articles/06_bitcoin/intro.md", key)
    assert "is already used by articles/06_bitcoin/intro.md" in message
    assert f"'slug: {suggestion}'" in message
