"""The pure views core: input parsing, bot detection, time buckets, use cases, the hot fold."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tracemalloc
from typing import Any

import pytest

from chainpress import views
from chainpress.model import Article, pad_sequencer
from chainpress.ports import ArticleChange, HotItem, SourceState, body_key
from chainpress.trending import HOT_PAGE_KEY, TrendingReport, run_trending
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryContentSource,
    InMemoryHotLists,
    InMemorySiteWriter,
)

NOW = dt.datetime(2024, 5, 3, 12, 30, tzinfo=dt.UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def make(slug: str, *, category: str = "bitcoin", status: str = "live", day: int = 1) -> Article:
    return Article(
        slug=slug,
        title=f"Title {slug}",
        date=dt.datetime(2024, 4, day, 8, 0, tzinfo=dt.UTC),
        source_key=f"articles/{slug}.md",
        content_hash=f"h-{slug}",
        category=category,
        status=status,  # type: ignore[arg-type]
    )


def store_with(*articles: Article) -> InMemoryArticleStore:
    store = InMemoryArticleStore()
    for article in articles:
        store.articles[article.slug] = article
    return store


# ---------------------------------------------------------------------------------- input


@pytest.mark.parametrize("slug", ["bitcoin-etf", "链圈-bitcoin", "web3_2024", "v1.2", "a"])
def test_valid_slugs_pass(slug: str) -> None:
    assert views.parse_slug(slug) == slug


@pytest.mark.parametrize(
    "slug",
    ["", "-x", ".hidden", "a/b", "a#b", "a%20b", "a b", "a,b", "../x", "x\n", "a" * 201, "<x>"],
)
def test_malformed_slugs_are_refused(slug: str) -> None:
    with pytest.raises(views.InvalidInput):
        views.parse_slug(slug)


def test_path_slug_is_decoded_exactly_once() -> None:
    assert views.slug_from_path("%E9%93%BE%E5%9C%88-bitcoin") == "链圈-bitcoin"
    # An already-decoded path (HTTP API may deliver it so) reads the same.
    assert views.slug_from_path("链圈-bitcoin") == "链圈-bitcoin"
    # Double-encoded: one decode leaves a "%", which no slug has.
    with pytest.raises(views.InvalidInput):
        views.slug_from_path("%25E9%2593%25BE")
    with pytest.raises(views.InvalidInput):
        views.slug_from_path("%FF%FE")  # not UTF-8
    with pytest.raises(views.InvalidInput):
        views.slug_from_path("a%2Fb")  # an encoded "/" cannot smuggle a path in


def test_slugs_list_is_deduplicated_and_bounded() -> None:
    assert views.parse_slugs("b,a,b, c") == ["b", "a", "c"]
    assert len(views.parse_slugs(",".join(f"s{i}" for i in range(100)))) == 100
    for bad in ["", None, ",".join(f"s{i}" for i in range(101)), "a,,b", "a,b/c"]:
        with pytest.raises(views.InvalidInput):
            views.parse_slugs(bad)


def test_window_category_and_limit() -> None:
    assert views.parse_window(None) == "24h"
    assert views.parse_window("7d") == "7d"
    assert views.parse_category("") is None
    assert views.parse_category("digital-currency") == "digital-currency"
    assert views.parse_limit(None) == 10
    assert views.parse_limit("50") == 50
    for call, value in [
        (views.parse_window, "30d"),
        (views.parse_category, "a/b"),
        (views.parse_limit, "0"),
        (views.parse_limit, "51"),
        (views.parse_limit, "ten"),
    ]:
        with pytest.raises(views.InvalidInput):
            call(value)  # type: ignore[operator]


# ------------------------------------------------------------------------------------ bots


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "Mozilla/5.0 (compatible; YandexBot/3.0)",
        "Mozilla/5.0 (compatible; Yahoo! Slurp)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Twitterbot/1.0",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "python-requests/2.32.3",
        "Go-http-client/2.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0.0.0",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "",
        None,
        "   ",
    ],
)
def test_bots_are_detected(agent: str | None) -> None:
    assert views.is_bot(agent)


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile",
        "curl/8.5.0",  # a person checking the counter by hand
        "Wget/1.21.4",
    ],
)
def test_people_and_their_command_line_tools_are_counted(agent: str) -> None:
    assert not views.is_bot(agent)


@pytest.mark.parametrize(
    "agent",
    [
        CHROME,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (Linux; Android 14; Cubot X30) AppleWebKit/537.36 Chrome/131.0 Mobile",
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36 MicroMessenger/8.0.49",
    ],
)
def test_browsers_are_readers(agent: str) -> None:
    assert not views.is_bot(agent)


def _crawler_instances() -> list[str]:
    import crawleruseragents

    return [
        agent
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        for agent in entry.get("instances", ())
    ]


def test_every_crawler_of_the_maintained_list_is_a_bot_but_command_line_tools() -> None:
    agents = _crawler_instances()
    assert len(agents) > 2000
    counted = sorted({a for a in agents if not views.is_bot(a)})
    # The one deliberate difference from the list: curl, wget and HTTPie typed by a person count.
    assert counted
    assert all(re.match(r"(?i)(curl|wget|httpie)/", a) for a in counted), counted


@pytest.mark.parametrize(
    "agent",
    [  # what the previous regex counted as readers
        "Mastodon/4.2.0 (http.rb/5.1.1; +https://mastodon.social/)",
        "Pleroma 2.5.0; https://pleroma.example <admin@pleroma.example>",
        "Iframely/1.3.1 (+https://iframely.com/docs/about)",
        "Mediapartners-Google",
        "Mozilla/5.0 (compatible; Google-InspectionTool/1.0)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Google-Read-Aloud"
        "; +https://support.google.com/webmasters/answer/1061943) Chrome/84.0 Safari/537.36",
        "Mozilla/5.0 (compatible; Qwantify/2.4w; +https://www.qwant.com/)/2.4w",
        "libcurl/7.64.1 r-curl/4.3 httr/1.4.2",
        "PostmanRuntime/7.36.0",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; "
        "+https://openai.com/bot",
        "Claude-User/1.0",
        "Perplexity-User/1.0",
        "Mozilla/5.0 (compatible; meta-externalagent/1.1; +https://developers.facebook.com/docs/"
        "sharing/webmasters/crawler)",
    ],
)
def test_link_previews_ai_fetchers_and_api_tools_are_bots(agent: str) -> None:
    assert views.is_bot(agent)


def test_no_real_browser_is_taken_for_a_bot() -> None:
    from importlib import resources

    data = resources.files("fake_useragent").joinpath("data", "browsers.jsonl").read_text()
    agents = {json.loads(line)["useragent"] for line in data.splitlines() if line.strip()}
    assert len(agents) > 800  # distinct real User-Agents of Chrome, Safari, Firefox, Edge...
    assert sorted(a for a in agents if views.is_bot(a)) == []


@pytest.mark.parametrize(
    "agent",
    [  # browsers whose User-Agent carries words the previous regex took for bots
        "Mozilla/5.0 (Linux; Android 12; SM-A525F) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36 Scanner/2.1",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 checkout/5.4.0",
    ],
)
def test_browsers_with_unusual_tokens_are_readers(agent: str) -> None:
    assert not views.is_bot(agent)


# ------------------------------------------------------------------------------------ time


def test_hour_keys_and_windows() -> None:
    assert views.hour_key(NOW) == "2024050312"
    east = dt.timezone(dt.timedelta(hours=8))
    assert views.hour_key(NOW.astimezone(east)) == "2024050312"  # always UTC
    hours = views.window_hours("24h", NOW)
    assert len(hours) == 24
    assert hours[0] == "2024050312"
    assert hours[-1] == "2024050213"
    assert len(views.window_hours("7d", NOW)) == 168
    start = dt.datetime(2024, 5, 3, 12, tzinfo=dt.UTC)
    assert views.bucket_expires(NOW) == int((start + dt.timedelta(days=8)).timestamp())


# ------------------------------------------------------------------------------- use cases


def test_count_view_counts_a_reader_and_reads_for_a_bot() -> None:
    counter = views.InMemoryViews(store_with(make("a")))
    first = views.count_view("a", CHROME, NOW, counter)
    assert first == views.ViewCount(slug="a", views=1, counted=True)
    assert views.count_view("a", CHROME, NOW, counter).views == 2
    bot = views.count_view("a", "Googlebot/2.1", NOW, counter)
    assert bot == views.ViewCount(slug="a", views=2, counted=False)
    assert counter.counts(views.hour_key(NOW)) == {"a": 2}


@pytest.mark.parametrize("status", ["draft", "scheduled", "removed", None])
def test_count_view_of_a_missing_or_unlisted_article_writes_nothing(status: str | None) -> None:
    store = store_with(make("a", status=status)) if status else store_with()
    counter = views.InMemoryViews(store)
    with pytest.raises(views.UnknownArticle):
        views.count_view("a", CHROME, NOW, counter)
    assert counter.totals_by_shard == {}
    assert counter.buckets == {}


def test_count_view_refuses_a_malformed_slug() -> None:
    with pytest.raises(views.InvalidInput):
        views.count_view("a/b", CHROME, NOW, views.InMemoryViews(store_with()))


def test_read_views_gives_every_requested_slug() -> None:
    counter = views.InMemoryViews(store_with(make("a"), make("b")))
    for _ in range(3):
        counter.add("a", NOW)
    assert views.read_views("a,b,nope", counter) == {"a": 3, "b": 0, "nope": 0}
    assert views.read_views(["b"], counter) == {"b": 0}
    with pytest.raises(views.InvalidInput):
        views.read_views([f"s{i}" for i in range(101)], counter)


def test_read_hot_is_one_list_cut_to_limit() -> None:
    items = [HotItem(f"s{i}", f"T{i}", f"/articles/s{i}/", "bitcoin", 100 - i) for i in range(20)]
    hot = InMemoryHotLists({("24h", "bitcoin"): items})
    window, category, got = views.read_hot(None, "bitcoin", "5", hot)
    assert (window, category, [i.slug for i in got]) == (
        "24h",
        "bitcoin",
        [f"s{i}" for i in range(5)],
    )
    assert views.read_hot("7d", None, None, hot) == ("7d", None, [])


# ------------------------------------------------------------------------------- hot fold


def counts_at(*entries: tuple[dt.datetime, str, int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for at, slug, n in entries:
        hour = out.setdefault(views.hour_key(at), {})
        hour[slug] = hour.get(slug, 0) + n
    return out


def test_fold_ranks_by_recent_views_not_all_time() -> None:
    articles = {a.slug: a for a in [make("old"), make("new", category="wallet"), make("mid")]}
    counts = counts_at(
        (NOW - dt.timedelta(days=3), "old", 500),  # in 7 days, not in 24 hours
        (NOW - dt.timedelta(days=9), "old", 10_000),  # outside every window
        (NOW - dt.timedelta(hours=2), "new", 20),
        (NOW - dt.timedelta(minutes=10), "new", 5),
        (NOW - dt.timedelta(hours=23), "mid", 10),  # the oldest hour still in 24h
        (NOW - dt.timedelta(hours=25), "mid", 7),
    )
    lists = views.fold_hot_lists(
        counts, articles, NOW, categories=["bitcoin", "wallet", "exchange"]
    )

    def ranked(key: Any) -> list[tuple[str, int]]:
        return [(i.slug, i.views) for i in lists[key]]

    assert ranked(("24h", None)) == [("new", 25), ("mid", 10)]
    assert ranked(("7d", None)) == [("old", 500), ("new", 25), ("mid", 17)]
    assert ranked(("24h", "bitcoin")) == [("mid", 10)]
    assert ranked(("7d", "wallet")) == [("new", 25)]
    assert lists[("24h", "exchange")] == []  # written empty: a stale list never lingers
    item = lists[("24h", None)][0]
    assert (item.title, item.url, item.category) == ("Title new", "/articles/new/", "wallet")


def test_fold_skips_unlisted_and_unknown_articles_and_breaks_ties_stably() -> None:
    articles = {
        a.slug: a
        for a in [
            make("gone", status="removed"),
            make("b", day=2),
            make("a", day=2),
            make("z", day=9),
        ]
    }
    counts = counts_at(*[(NOW, s, 5) for s in ["gone", "b", "a", "z", "unknown"]])
    lists = views.fold_hot_lists(counts, articles, NOW)
    assert [i.slug for i in lists[("24h", None)]] == ["z", "a", "b"]  # newer, then slug


def test_fold_keeps_at_most_size_items_and_leaves_uncategorised_out_of_categories() -> None:
    articles = {f"s{i}": make(f"s{i}", category="" if i % 2 else "bitcoin") for i in range(80)}
    counts = counts_at(*[(NOW, f"s{i}", i + 1) for i in range(80)])
    lists = views.fold_hot_lists(counts, articles, NOW)
    assert len(lists[("24h", None)]) == views.HOT_SIZE
    assert lists[("24h", None)][0].slug == "s79"
    assert len(lists[("24h", "bitcoin")]) == 40
    assert ("24h", "") not in lists


# ------------------------------------------------------------------------ rollups, trending


def test_closed_hours_are_rolled_up_once_and_read_back() -> None:
    store = store_with(make("a"), make("b", category="wallet"))
    counter = views.InMemoryViews(store)
    for at, slug in [
        (NOW - dt.timedelta(hours=3), "a"),
        (NOW - dt.timedelta(hours=3), "b"),
        (NOW - dt.timedelta(minutes=5), "a"),
    ]:
        counter.add(slug, at)
    first = views.fold_hot(counter, store, NOW)
    assert [(i.slug, i.views) for i in first.lists[("7d", None)]] == [("a", 2), ("b", 1)]
    assert [i.slug for i in first.lists[("24h", "wallet")]] == ["b"]
    assert counter.partition_reads == 168 * views.BUCKET_PARTITIONS  # every hour once
    assert len(counter.rolled) == 167  # every closed hour, empty ones too
    date = int(make("a").date.timestamp())
    assert counter.rolled["2024050309"] == [
        views.RollupRow("a", 1, "bitcoin", date, True),
        views.RollupRow("b", 1, "wallet", date, True),
    ]
    assert views.fold_hot(counter, store, NOW).lists == first.lists
    assert counter.partition_reads == 169 * views.BUCKET_PARTITIONS  # then only the open hour
    # 11:00-12:00 closes at 12:02 (margin for views still in flight), not before.
    assert not views.hour_closed("2024050311", dt.datetime(2024, 5, 3, 12, 1, tzinfo=dt.UTC))
    assert views.hour_closed("2024050311", dt.datetime(2024, 5, 3, 12, 2, tzinfo=dt.UTC))


def test_one_article_spreads_over_shards_partitions_and_articles_over_all() -> None:
    viral = {views.bucket_partition("bitcoin-halving", k) for k in range(views.SHARDS)}
    assert len(viral) == views.SHARDS
    used = {views.bucket_partition(f"story-{i}", 0) for i in range(2000)}
    assert used == set(range(views.BUCKET_PARTITIONS))
    # Stable across processes (CRC-32, not the salted built-in hash).
    code = "from chainpress.views import bucket_partition as p; print(p('链圈-bitcoin-etf', 3))"
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert seen == {str(views.bucket_partition("链圈-bitcoin-etf", 3))}


def test_unlisted_articles_viewed_this_hour_are_closed_page_by_page() -> None:
    live = [make(f"s{i:03d}") for i in range(150)]
    store = store_with(*live)
    counter = views.InMemoryViews(store)
    for article in live:
        counter.add(article.slug, NOW)
    for article in live[:120]:  # taken down after being viewed
        store.articles[article.slug] = dataclasses.replace(article, status="removed")
    pages: list[list[str]] = []
    result = views.fold_hot(counter, store, NOW, close=lambda slugs: pages.append(list(slugs)))
    assert sorted(s for page in pages for s in page) == [a.slug for a in live[:120]]
    assert max(len(page) for page in pages) <= views.FOLD_PAGE
    assert {i.slug for i in result.lists[("24h", None)]} == {a.slug for a in live[120:]}


def test_trending_run_in_memory_publishes_due_and_writes_hot() -> None:
    store = InMemoryArticleStore()
    writer = InMemorySiteWriter()
    content = InMemoryContentSource()
    for article in [make("live-one"), make("later", status="scheduled")]:
        status = "published"
        if article.status == "scheduled":
            article = dataclasses.replace(article, date=NOW)
            status = "scheduled"
        source = SourceState(
            article.source_key, pad_sequencer("1"), "v7", slug=article.slug, status=status
        )
        store.commit(ArticleChange(source=source, new=article, previous=None))
        writer.write(body_key(article.slug), b"<p>body</p>", "text/html", "no-store")
    counter = views.InMemoryViews(store)
    counter.add("live-one", NOW)

    def run(now: dt.datetime) -> TrendingReport:
        return run_trending(
            store=store, buckets=counter, hot_writer=counter, writer=writer, reports=content,
            now=now,
        )  # fmt: skip

    early = run(NOW - dt.timedelta(seconds=1))
    assert early.published == ()
    assert [a.slug for a in store.newest("home", 5)] == ["live-one"]
    assert content.reports == {}
    report = run(NOW)
    assert report.published == ("later",)
    assert [a.slug for a in store.newest("home", 5)] == ["later", "live-one"]
    assert "articles/later/index.html" in writer.objects
    assert [i.slug for i in counter.get("24h")] == ["live-one"]
    assert "Title live-one" in writer.text(HOT_PAGE_KEY)
    # The editor's report for the source no longer says "scheduled".
    assert content.reports == {
        "articles/later.md": {
            "key": "articles/later.md",
            "version_id": "v7",
            "status": "published",
            "url": "/articles/later/",
            "error": None,
            "errors": [],
            "warnings": [],
            "at": "2024-05-03T12:30:00Z",
        }
    }


# --------------------------------------------------------------------- the fold's memory


def week_of_views(distinct: int) -> tuple[InMemoryArticleStore, views.InMemoryViews]:
    """``distinct`` live articles in 8 categories, each viewed in 3 of the week's closed hours
    (already rolled up) and a few of them in the open hour."""
    store = InMemoryArticleStore()
    counter = views.InMemoryViews(store)
    hours = views.window_hours("7d", NOW)
    closed = [h for h in hours if views.hour_closed(h, NOW)]
    rows: dict[str, list[views.RollupRow]] = {h: [] for h in closed}
    for i in range(distinct):
        article = make(f"s{i:06d}", category=f"c{i % 8}", day=1 + i % 28)
        store.articles[article.slug] = article
        date = int(article.date.timestamp())
        for k in range(3):
            hour = closed[(i * 7 + k * 31) % len(closed)]
            views_in_hour = 1 + (i * 2654435761 + k) % 997  # spread, deterministic
            rows[hour].append(
                views.RollupRow(article.slug, views_in_hour, article.category, date, True)
            )
    for hour, found in rows.items():
        counter.rolled[hour] = sorted(found, key=lambda r: r.slug)
    for i in range(0, distinct, max(1, distinct // 20)):
        counter.add(f"s{i:06d}", NOW)
    return store, counter


def fold_measured(distinct: int) -> tuple[views.FoldResult, int, list[tuple[str, int]]]:
    """The fold, its peak traced memory, and the week's true top list (summed naively)."""
    store, counter = week_of_views(distinct)
    totals: dict[str, int] = {}
    for found in counter.rolled.values():
        for row in found:
            totals[row.slug] = totals.get(row.slug, 0) + row.views
    for slug, n in counter.counts(views.hour_key(NOW)).items():
        totals[slug] = totals.get(slug, 0) + n
    dates = {slug: a.date.timestamp() for slug, a in store.articles.items()}
    best = sorted(totals.items(), key=lambda kv: (-kv[1], -dates[kv[0]], kv[0]))
    categories = [f"c{i}" for i in range(8)]
    tracemalloc.start()
    try:
        result = views.fold_hot(counter, store, NOW, categories=categories)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak, best[: views.HOT_SIZE]


def test_the_fold_holds_the_same_few_records_for_ten_times_the_articles() -> None:
    small, small_peak, _ = fold_measured(2_000)
    large, large_peak, expected = fold_measured(20_000)
    assert (small.articles_seen, large.articles_seen) == (2_000, 20_000)
    # Top lists (2 windows x (overall + 8 categories) x 2 x 50) plus one page of lookups:
    bound = 2 * 9 * 2 * views.HOT_SIZE + views.FOLD_PAGE
    assert small.max_held <= bound
    assert large.max_held <= bound
    # Records read: the open hour's 20 articles and the winners, not every article viewed.
    assert large.records_read <= 20 + 2 * 9 * 2 * views.HOT_SIZE
    # Memory: flat, not 10x (the in-memory store itself was built before tracing started).
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
    # And the lists are right: the most viewed articles of the week, each category's own.
    assert [(i.slug, i.views) for i in large.lists[("7d", None)]] == expected
    assert all(i.category == "c3" for i in large.lists[("7d", "c3")])
    assert len(large.lists[("7d", "c3")]) == views.HOT_SIZE
