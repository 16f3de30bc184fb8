"""Incremental rebuilds with in-memory ports: which pages a change touches, pagination counted
from the oldest page that never shifts, a constant number of writes per publish, summary pages
that follow the table, no link to a page that is gone, and incremental == full."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainpress.model import Article, pad_sequencer
from chainpress.pages import (
    HOME,
    BuildContext,
    Page,
    affected_pages,
    article_pages,
    listing_key,
    plan_listing,
)
from chainpress.ports import HTML, ArticleChange, Paging, SourceState, body_key
from chainpress.publishing import write_article_page
from chainpress.rebuilding import (
    RebuildPorts,
    invalidation_paths,
    rebuild_all,
    rebuild_changes,
    rebuild_summaries,
)
from chainpress.site import load_site
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryCdn,
    InMemoryHotLists,
    InMemorySiteWriter,
)

START = dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.UTC)
P = 20  # default page size
CARD = re.compile(r'<h2 class="card-title"><a href="/articles/([^/"]+)/"')
SUMMARY_KEYS = {"archive/index.html", "sitemap/index.html", "sitemaps/pages.xml"}


def make(i: int, **changes: object) -> Article:
    fields: dict[str, object] = {
        "slug": f"a{i:05d}",
        "title": f"Article {i}",
        "date": START + dt.timedelta(hours=i),
        "source_key": f"articles/a{i:05d}.md",
        "content_hash": f"h{i}",
        "category": "bitcoin" if i % 2 else "wallet",
        "tags": ("etf",) if i % 3 else ("etf", "mining"),
    }
    fields.update(changes)
    return Article(**fields)  # type: ignore[arg-type]


class Site:
    """A store, a site and the rebuild ports, with publish-like helpers."""

    def __init__(self, paging: Paging | None = None) -> None:
        self.store = InMemoryArticleStore()
        self.site = InMemorySiteWriter()
        self.cdn = InMemoryCdn()
        # Exact mode: these tests pin that every changed page is known and sent (the default
        # mode's policy is tested in test_invalidation.py).
        self.ports = RebuildPorts(
            self.store, self.site, InMemoryHotLists(), self.cdn, invalidation_mode="exact"
        )
        self.paging = paging or Paging()
        self.seq = 0

    def commit(self, article: Article) -> tuple[Article | None, Article]:
        """Commit like publish does (record, members, heads in one go; body written)."""
        self.seq += 1
        previous = self.store.get_article(article.slug)
        source = SourceState(article.source_key, pad_sequencer(f"{self.seq:X}"), slug=article.slug)
        change = ArticleChange(source=source, new=article, previous=previous, paging=self.paging)
        self.store.commit(change)
        if article.status in ("live", "scheduled"):
            body = f"<p>{article.title}</p>".encode()
            self.site.write(body_key(article.slug), body, HTML, "x")
        return previous, article

    def publish(self, article: Article) -> tuple[Article | None, Article]:
        """commit + the article page, as the publish function writes it."""
        change = self.commit(article)
        if article.is_listed:
            _, theme = load_site(self.store.get_site())
            write_article_page(self.site, theme, self.store, article)
        return change

    def context(self, now: dt.datetime) -> BuildContext:
        settings_, theme = load_site(self.store.get_site())
        return BuildContext(self.store, self.site, InMemoryHotLists(), settings_, theme, now)

    def slugs(self, key: str) -> list[str]:
        return CARD.findall(self.site.text(key))


def populated(n: int, now: dt.datetime | None = None) -> Site:
    site = Site()
    for i in range(n):
        site.commit(make(i))
    rebuild_all(site.ports, now or START + dt.timedelta(hours=n + 1))
    site.site.writes.clear()
    site.cdn.requests.clear()
    return site


def keys_of(pages: Sequence[Page]) -> set[str]:
    return {p.key for p in pages}


# -- keys and numbering -----------------------------------------------------------------------


def test_page_keys() -> None:
    assert listing_key(HOME, 0) == "index.html"
    assert listing_key(HOME, 3) == "page/3/index.html"
    assert listing_key("category/bitcoin", 0) == "category/bitcoin/index.html"
    assert listing_key("tag/etf", 2) == "tag/etf/page/2/index.html"
    assert Page("feed", HOME).key == "feed.xml"
    assert Page("feed", "category/bitcoin").key == "category/bitcoin/feed.xml"
    assert Page("shard", number=2).key == "sitemaps/articles-2.xml"
    assert Page("article", name="x").key == "articles/x/index.html"
    assert Page("sitemap-index").key == "sitemap.xml"
    assert Page("month", "2024-05", 1).key == "archive/2024/05/index.html"
    assert Page("month", "2024-05", 3).key == "archive/2024/05/page/3/index.html"
    assert Page("archive").key == "archive/index.html"
    assert Page("html-sitemap").key == "sitemap/index.html"
    assert Page("html-sitemap", number=2).key == "sitemap/tags/2/index.html"
    assert Page("tags-sitemap", number=2).key == "sitemaps/tags-2.xml"


def test_numbered_pages_count_from_the_oldest() -> None:
    site = populated(45)
    oldest_first = [make(i).slug for i in range(45)]
    # Appended oldest first: page K holds [(K-1)*P, K*P), shown newest first.
    assert site.slugs("page/1/index.html") == oldest_first[0:20][::-1]
    assert site.slugs("page/2/index.html") == oldest_first[20:40][::-1]
    assert site.slugs("page/3/index.html") == oldest_first[40:45][::-1]
    assert site.site.read("page/4/index.html") is None
    assert site.slugs("index.html") == oldest_first[25:45][::-1]  # the newest P
    assert (
        site.slugs("category/bitcoin/page/1/index.html")
        == [s for i, s in enumerate(oldest_first) if i % 2][:20][::-1]
    )


# -- affected pages ------------------------------------------------------------------------------


def test_append_touches_front_and_last_page_only() -> None:
    site = populated(45)
    change = site.commit(make(45, tags=("etf",)))
    pages = keys_of(affected_pages(site.context(START + dt.timedelta(hours=47)), [change]))
    assert {"index.html", "page/3/index.html"} <= pages
    assert not {"page/1/index.html", "page/2/index.html", "page/4/index.html"} & pages
    assert {"sitemaps/articles-1.xml", "sitemap.xml", "sitemaps/news.xml"} <= pages
    assert {"archive/index.html", "archive/2024/01/index.html"} <= pages
    assert "feed.xml" in pages
    assert "category/bitcoin/feed.xml" in pages


def test_append_that_opens_a_page_rewrites_the_previous_last_page() -> None:
    site = populated(40)  # home: pages 1, 2 full; the 41st article opens page 3
    before = site.site.text("page/2/index.html")
    report = rebuild_changes([site.commit(make(40))], site.ports, START + dt.timedelta(hours=42))
    assert "page/3/index.html" in report.written
    assert "page/2/index.html" in report.written  # its "newer" link now goes to page 3
    assert site.site.text("page/2/index.html") != before
    assert "page/1/index.html" not in report.written
    assert site.slugs("page/3/index.html") == [make(40).slug]


def test_backdated_insert_joins_the_page_covering_its_date_and_nothing_shifts() -> None:
    site = populated(100)
    before = {k: site.site.text(f"page/{k}/index.html") for k in range(1, 6)}
    old = make(-1, date=START + dt.timedelta(hours=30, minutes=30))  # between a30 and a31
    report = rebuild_changes([site.commit(old)], site.ports, START + dt.timedelta(hours=101))
    written = set(report.written)
    assert "page/2/index.html" in written  # the page covering its date, now 21 long
    assert {f"page/{k}/index.html" for k in (1, 3, 4, 5)}.isdisjoint(written)
    assert "index.html" not in written  # not among the newest
    page2 = site.slugs("page/2/index.html")
    assert len(page2) == 21
    assert old.slug in page2
    assert page2[-1] == make(20).slug
    assert page2[0] == make(39).slug
    for k in (1, 3, 4, 5):
        assert site.site.text(f"page/{k}/index.html") == before[k]


def test_edit_in_place_touches_only_the_page_holding_it() -> None:
    site = populated(100)
    edited = make(5, title="Edited title", content_hash="h5b")
    pages = keys_of(
        affected_pages(site.context(START + dt.timedelta(hours=101)), [(make(5), edited)])
    )
    assert "page/1/index.html" in pages
    assert not any(p.startswith("page/") and p != "page/1/index.html" for p in pages)
    assert "index.html" not in pages  # not among the newest P
    site.commit(edited)
    report = rebuild_changes([(make(5), edited)], site.ports, START + dt.timedelta(hours=101))
    assert "page/1/index.html" in report.written
    assert "Edited title" in site.site.text("page/1/index.html")


def test_deleting_the_newest_article_leaves_a_short_last_page() -> None:
    site = populated(41)  # home has pages 1..3; page 3 holds one article
    last = make(40)
    change = site.commit(dataclasses.replace(last, status="removed"))
    report = rebuild_changes([change], site.ports, START + dt.timedelta(hours=42))
    assert "page/3/index.html" in report.written  # empty now, but its links still work
    assert site.slugs("page/3/index.html") == []
    assert "page/2/index.html" not in report.written  # nothing shifted
    assert last.slug not in site.slugs("index.html")
    assert "articles/a00040/index.html" in report.deleted
    # The next article fills page 3 again.
    rebuild_changes([site.commit(make(41))], site.ports, START + dt.timedelta(hours=43))
    assert site.slugs("page/3/index.html") == [make(41).slug]


def test_emptied_tag_loses_its_pages_and_the_listing_sitemaps_follow() -> None:
    site = populated(10)
    lonely = make(10, tags=("lonely",))
    rebuild_changes([site.commit(lonely)], site.ports, START + dt.timedelta(hours=12))
    assert site.site.read("tag/lonely/index.html") is not None
    assert "/tag/lonely/" in site.site.text("sitemaps/tags-1.xml")
    assert "lonely" in site.site.text("sitemap/index.html")
    gone = dataclasses.replace(lonely, status="removed")
    report = rebuild_changes([site.commit(gone)], site.ports, START + dt.timedelta(hours=12))
    assert {"tag/lonely/index.html", "tag/lonely/page/1/index.html"} <= set(report.deleted)
    assert "/tag/lonely/" not in site.site.text("sitemaps/tags-1.xml")
    assert "lonely" not in site.site.text("sitemap/index.html")
    # It comes back: from page 1 again.
    back = make(11, tags=("lonely",))
    rebuild_changes([site.commit(back)], site.ports, START + dt.timedelta(hours=13))
    assert site.slugs("tag/lonely/page/1/index.html") == [back.slug]
    assert "/tag/lonely/" in site.site.text("sitemaps/tags-1.xml")


@pytest.mark.parametrize("order", ["in order", "reversed"])
def test_a_new_tag_split_across_batches_appears_in_the_html_and_xml_sitemaps(order: str) -> None:
    site = populated(10)
    now = START + dt.timedelta(hours=13)
    # Both committed before either batch is rebuilt (BatchSize 1): when a batch runs, the tag
    # already has two articles, so "did this batch add the first one" cannot be the question.
    batches = [[site.commit(make(10, tags=("Fresh",)))], [site.commit(make(11, tags=("Fresh",)))]]
    for batch in batches if order == "in order" else batches[::-1]:
        rebuild_changes(batch, site.ports, now)
    assert '<a href="/tag/fresh/" rel="tag">Fresh</a>' in site.site.text("sitemap/index.html")
    assert "/tag/fresh/</loc>" in site.site.text("sitemaps/tags-1.xml")
    assert "sitemaps/tags-1.xml" in site.site.text("sitemap.xml")
    # And leaves them once its last article has gone, whichever batch sees it.
    gone = [
        site.commit(dataclasses.replace(make(i, tags=("Fresh",)), status="removed"))
        for i in (10, 11)
    ]
    for change in gone[::-1] if order == "in order" else gone:
        rebuild_changes([change], site.ports, now)
    assert "/tag/fresh/" not in site.site.text("sitemap/index.html")
    assert "/tag/fresh/" not in site.site.text("sitemaps/tags-1.xml")
    assert site.site.read("tag/fresh/index.html") is None


def test_tags_fill_pages_of_the_html_sitemap_that_never_shift() -> None:
    site = Site(Paging(index_size=2))
    now = START + dt.timedelta(hours=10)
    for i, tag in enumerate(["b", "a", "d", "c", "e"]):  # first used in this order
        rebuild_changes([site.commit(make(i, tags=(tag,)))], site.ports, now)
    assert site.slugs("index.html")  # the site is there
    root = site.site.text("sitemap/index.html")
    for k in (1, 2, 3):
        assert f'href="/sitemap/tags/{k}/"' in root
    assert re.findall(r'href="/tag/(\w)/"', site.site.text("sitemap/tags/1/index.html")) == [
        "a",
        "b",
    ]
    assert re.findall(r'href="/tag/(\w)/"', site.site.text("sitemap/tags/2/index.html")) == [
        "c",
        "d",
    ]
    page3 = site.site.text("sitemaps/tags-3.xml")
    assert "/tag/e/</loc>" in page3
    assert "/sitemap/tags/3/</loc>" in page3
    index = site.site.text("sitemap.xml")
    assert [f"sitemaps/tags-{k}.xml" in index for k in (1, 2, 3, 4)] == [True, True, True, False]


def test_neighbours_of_old_and_new_places_are_rewritten() -> None:
    site = populated(20)  # bitcoin: odd i; wallet: even i
    moved = make(7, category="wallet", content_hash="h7b")  # bitcoin -> wallet
    site.commit(moved)
    pages = {p.name for p in article_pages(site.store, [(make(7), moved)])}
    # Old place (bitcoin 5 <-> 9 now adjacent), new place (wallet 6 and 8 around it).
    assert pages >= {make(i).slug for i in (5, 7, 9, 6, 8)}
    # And the articles whose related lists (the two nearest by date, in each category and tag
    # listing) held it or now hold it.
    assert pages - {make(i).slug for i in (5, 7, 9, 6, 8)} == {make(i).slug for i in (3, 4, 10, 11)}
    rebuild_changes([(make(7), moved)], site.ports, START + dt.timedelta(hours=21))
    page5 = site.site.text("articles/a00005/index.html")
    assert 'href="/articles/a00009/" rel="next"' in page5
    page8 = site.site.text("articles/a00008/index.html")
    assert 'href="/articles/a00007/" rel="prev"' in page8


def test_drafts_and_scheduled_articles_never_appear() -> None:
    site = populated(5)
    draft = make(5, status="draft")
    held = make(6, status="scheduled", date=START + dt.timedelta(days=30))
    rebuild_changes([site.commit(draft), site.commit(held)], site.ports, START)
    for key, obj in site.site.objects.items():
        if not key.startswith("_internal/"):
            text = obj.data.decode("utf-8", "replace")
            assert draft.slug not in text, key
            assert held.slug not in text, key


# -- cost per publish ----------------------------------------------------------------------------


def publish_writes(n: int, tags: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Page writes and invalidated paths of one new article published on an n-article site
    (no listing opens a new page, no new tag or month)."""
    site = populated(n)
    now = START + dt.timedelta(hours=n + 1)
    article = make(n + 1, category="bitcoin", tags=tags, date=now - dt.timedelta(minutes=5))
    change = site.publish(article)
    site.site.writes.clear()
    report = rebuild_changes([change], site.ports, now)
    assert report.written == site.site.writes
    return report.written, report.invalidated


@pytest.mark.parametrize("tags", [("etf",), ("etf", "mining")])
def test_writes_per_publish_are_constant_in_n(tags: tuple[str, ...]) -> None:
    # 105 and 1,005: no listing sits on a page boundary, so no previous last page changes.
    small, small_paths = publish_writes(105, tags)
    large, large_paths = publish_writes(1005, tags)
    # The module docstring's formula, and the older articles nearest it in its category and tags
    # (whose related lists now hold it) that are not its category neighbour: 2 with one tag here.
    related = {1: 2, 2: 4}[len(tags)]
    assert len(small) == len(large) == 12 + 2 * len(tags) + related
    assert len(small_paths) == len(large_paths) == len(small)

    def shape(key: str) -> str:  # numbers and slugs differ, kinds not
        return re.sub(r"\d+", "*", re.sub(r"page/\d+/|articles/[^/]+/", "", key))

    assert sorted(map(shape, small)) == sorted(map(shape, large))


def old_article_changes(n: int) -> dict[str, tuple[list[str], list[str]]]:
    """Pages written and deleted on an n-article site by: deleting the oldest article, and
    moving the newest one back to the first day (a backdate across every page)."""
    site = populated(n)
    now = START + dt.timedelta(hours=n + 1)
    found = {}
    oldest = make(0)
    change = site.commit(dataclasses.replace(oldest, status="removed"))
    report = rebuild_changes([change], site.ports, now)
    found["delete"] = (report.written, report.deleted)
    newest = make(n - 1)
    moved = dataclasses.replace(newest, date=START + dt.timedelta(minutes=30), content_hash="b")
    report = rebuild_changes([site.commit(moved)], site.ports, now)
    found["backdate"] = (report.written, report.deleted)
    return found


def test_deleting_or_backdating_an_old_article_rewrites_the_same_few_pages_whatever_n() -> None:
    # Both over several months and sitemap shards (an article an hour, 1,000 per shard).
    small, large = old_article_changes(1005), old_article_changes(2007)  # alike newest

    def shape(key: str) -> str:
        return re.sub(r"\d+", "*", re.sub(r"page/\d+/|articles/[^/]+/", "", key))

    for kind in ("delete", "backdate"):
        (small_written, small_deleted), (large_written, large_deleted) = small[kind], large[kind]
        assert sorted(map(shape, small_written)) == sorted(map(shape, large_written)), kind
        assert len(small_deleted) == len(large_deleted), kind
    # Deleting the oldest: page 1 of home, its category and tags, shard 1, its month page,
    # the archive index and the sitemap index, its neighbour's page; never a page after it.
    written, deleted = large["delete"]
    assert {"page/1/index.html", "category/wallet/page/1/index.html"} <= set(written)
    assert {"sitemaps/articles-1.xml", "archive/2024/01/index.html"} <= set(written)
    assert "page/2/index.html" not in written
    assert len(written) == 11  # with the 3 whose related lists held it
    # Its page, and its stored body (not public: the rebuild drops what publish left).
    assert sorted(deleted) == ["_internal/bodies/a00000.html", "articles/a00000/index.html"]
    written, _ = large["backdate"]
    assert {"index.html", "page/1/index.html", "page/101/index.html"} <= set(written)
    assert "page/50/index.html" not in written
    assert len(written) == 24


def test_invalidation_is_one_request_of_changed_paths_or_a_wildcard() -> None:
    site = populated(30)
    change = site.commit(make(30))
    report = rebuild_changes([change], site.ports, START + dt.timedelta(hours=31))
    assert site.cdn.requests == [report.invalidated]
    public = [k for k in report.written if not k.startswith("_internal/")]
    assert sorted(report.invalidated) == sorted({"/" + k for k in public})
    assert invalidation_paths(["a/index.html"] * 3 + ["b.xml"], threshold=1) == ["/*"]
    assert invalidation_paths(["tag/链圈/index.html"], 50) == ["/tag/%E9%93%BE%E5%9C%88/index.html"]
    quiet = Site()
    quiet.ports = dataclasses.replace(quiet.ports, cdn=None)
    assert rebuild_all(quiet.ports, START).invalidated == []


def test_edited_article_page_is_invalidated_even_if_publish_already_wrote_it() -> None:
    site = populated(10)
    edited = make(3, title="New title", content_hash="h3b")
    change = site.publish(edited)
    report = rebuild_changes([change], site.ports, START + dt.timedelta(hours=11))
    assert "articles/a00003/index.html" not in report.written
    assert "/articles/a00003/index.html" in report.invalidated


# -- level-triggered: replay, order, incremental == full ---------------------------------------


def test_same_batch_twice_changes_nothing_the_second_time() -> None:
    site = populated(30)
    batch = [site.commit(make(30)), site.commit(make(31))]
    now = START + dt.timedelta(hours=33)
    rebuild_changes(batch, site.ports, now)
    digest = site.site.digest()
    again = rebuild_changes(batch, site.ports, now)
    assert again.written == []
    assert again.deleted == []
    assert site.site.digest() == digest


def test_batches_in_reverse_order_give_the_same_site() -> None:
    sites = [populated(30), populated(30)]
    now = START + dt.timedelta(hours=40)
    for site in sites:
        first = [site.commit(make(30)), site.commit(make(3, title="x", content_hash="x"))]
        second = [site.commit(dataclasses.replace(make(30), status="removed")),
                  site.commit(make(31, date=START + dt.timedelta(minutes=30)))]  # fmt: skip
        site.batches = [first, second]  # type: ignore[attr-defined]
    forward, backward = sites
    for batch in forward.batches:  # type: ignore[attr-defined]
        rebuild_changes(batch, forward.ports, now)
    for batch in reversed(backward.batches):  # type: ignore[attr-defined]
        rebuild_changes(batch, backward.ports, now)
    assert forward.site.digest() == backward.site.digest()


def full_site(
    store: InMemoryArticleStore, bodies: InMemorySiteWriter, now: dt.datetime
) -> dict[str, bytes]:
    fresh = InMemorySiteWriter()
    for key, obj in bodies.objects.items():
        if key.startswith("_internal/bodies/"):
            fresh.objects[key] = obj
    rebuild_all(RebuildPorts(store, fresh, InMemoryHotLists()), now)
    return {k: v.data for k, v in fresh.objects.items()}


OPS = st.lists(
    st.tuples(
        st.sampled_from(["new", "backdate", "edit", "delete", "move", "retag", "draft"]),
        st.integers(0, 10_000),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=OPS,
    batch=st.integers(1, 6),
    page_size=st.sampled_from([2, 3, 5]),
    shard_size=st.sampled_from([3, 50_000]),
)
def test_incremental_rebuilds_equal_a_full_rebuild(
    ops: list[tuple[str, int]], batch: int, page_size: int, shard_size: int
) -> None:
    # Small pages everywhere (listings, shards, months, the tag index) so that every kind of
    # boundary is crossed, re-filled and reset.
    paging = Paging(page_size=page_size, shard_size=shard_size, month_size=2, index_size=2)
    site = Site(paging)
    site.store.site = dataclasses.replace(site.store.site, yaml_text=f"page_size: {page_size}\n")
    now = START + dt.timedelta(days=400)
    rebuild_all(site.ports, now)
    rng = random.Random(len(ops) * 7919 + batch)
    live: list[int] = []
    next_id = 0
    pending: list[tuple[Article | None, Article]] = []
    for op, seed in ops:
        current = [site.store.get_article(make(i).slug) for i in live]
        target = current[seed % len(current)] if current else None
        if op == "new" or target is None:
            article = make(next_id, date=now - dt.timedelta(hours=rng.randint(0, 72)))
            next_id += 1
            live.append(next_id - 1)
        elif op == "backdate":
            article = make(next_id, date=START + dt.timedelta(hours=rng.randint(0, 5000)))
            next_id += 1
            live.append(next_id - 1)
        elif op == "edit":
            article = dataclasses.replace(target, title=target.title + "!", content_hash="e")
        elif op == "move":
            article = dataclasses.replace(
                target, date=target.date + dt.timedelta(days=rng.randint(-90, 9))
            )
        elif op == "retag":
            article = dataclasses.replace(
                target, tags=(f"t{seed % 4}",), category=rng.choice(["bitcoin", "wallet", ""])
            )
        elif op == "delete":
            article = dataclasses.replace(target, status="removed")
        else:
            article = dataclasses.replace(target, status="draft")
        pending.append(site.commit(article))
        if len(pending) >= batch:
            rebuild_changes(pending, site.ports, now)
            pending = []
    if pending:
        rebuild_changes(pending, site.ports, now)
    incremental = {k: v.data for k, v in site.site.objects.items()}
    full = full_site(site.store, site.site, now)
    assert rebuild_summaries(site.ports, now).written == []  # nothing was lagging
    assert sorted(incremental) == sorted(full)
    for key in full:
        assert incremental[key] == full[key], key


def test_plan_for_a_change_elsewhere_is_empty() -> None:
    site = populated(10)
    ctx = site.context(START)
    change = (make(3), make(3, content_hash="body only"))  # listing data unchanged? no: hash
    plan = plan_listing(ctx, "tag/unrelated", [change])
    assert plan.pages == set()
    assert plan.summaries == set()
