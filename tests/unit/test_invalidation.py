"""CDN invalidation: what is invalidated by default and in exact mode, and that no fault
between the page writes and CloudFront's answer loses a path (in-memory ports)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
from collections.abc import Callable

import pytest

from chainpress.invalidation import (
    MAX_PATHS_PER_REQUEST,
    InMemoryInvalidationQueue,
    RecordingWriter,
    cdn_path,
    flush,
    needs_invalidation,
    shared_lifetime,
)
from chainpress.model import Article, pad_sequencer
from chainpress.pages import public_path
from chainpress.ports import (
    CACHE_ARTICLE,
    CACHE_PAGE,
    CACHE_STATIC,
    HTML,
    ArticleChange,
    CdnUnavailable,
    PendingPath,
    SourceState,
    body_key,
)
from chainpress.publishing import write_article_page
from chainpress.rebuilding import RebuildPorts, flush_invalidations, rebuild_all, rebuild_changes
from chainpress.site import load_site
from chainpress_dev.memory import InMemoryArticleStore, InMemoryCdn, InMemoryHotLists
from chainpress_dev.memory import InMemorySiteWriter as MemorySite

START = dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.UTC)
Change = tuple[Article | None, Article | None]


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
    def __init__(self, mode: str = "articles") -> None:
        self.store = InMemoryArticleStore()
        self.site = MemorySite()
        self.cdn = InMemoryCdn()
        self.queue = InMemoryInvalidationQueue()
        self.ports = RebuildPorts(
            self.store,
            self.site,
            InMemoryHotLists(),
            self.cdn,
            invalidations=self.queue,
            invalidation_mode=mode,  # type: ignore[arg-type]
        )
        self.seq = 0

    def publish(self, article: Article) -> Change:
        """What the publish function leaves: records, body, the article page."""
        self.seq += 1
        previous = self.store.get_article(article.slug)
        source = SourceState(article.source_key, pad_sequencer(f"{self.seq:X}"), slug=article.slug)
        self.store.commit(ArticleChange(source=source, new=article, previous=previous))
        self.site.write(body_key(article.slug), f"<p>{article.title}</p>".encode(), HTML, "x")
        if article.is_listed:
            _, theme = load_site(self.store.get_site())
            write_article_page(self.site, theme, self.store, article)
        return previous, article

    def snapshot(self) -> dict[str, bytes]:
        return {k: o.data for k, o in self.site.objects.items()}


def populated(n: int, mode: str = "articles") -> Site:
    site = Site(mode)
    for i in range(n):
        site.publish(make(i))
    rebuild_all(site.ports, START + dt.timedelta(hours=n + 1))
    site.cdn.requests.clear()
    site.queue.calls.clear()
    return site


def changed_keys(before: dict[str, bytes], after: dict[str, bytes]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


# -- policy ------------------------------------------------------------------------------------


def test_paths_and_lifetimes() -> None:
    for key in ["index.html", "tag/链圈/page/2/index.html", "articles/a b/index.html"]:
        assert cdn_path(key) == public_path(key)
    assert shared_lifetime(CACHE_PAGE) == 30
    assert shared_lifetime(CACHE_ARTICLE) == 86400
    assert shared_lifetime(CACHE_STATIC) == 86400
    assert shared_lifetime("no-store") is None
    assert "stale-while-revalidate" in CACHE_PAGE
    assert not needs_invalidation("index.html", CACHE_PAGE, "articles")
    assert needs_invalidation("index.html", CACHE_PAGE, "exact")
    assert needs_invalidation("articles/a/index.html", CACHE_ARTICLE, "articles")
    assert needs_invalidation("page/3/index.html", None, "articles")  # a deletion
    assert not needs_invalidation("_internal/bodies/a.html", CACHE_ARTICLE, "exact")


@pytest.mark.parametrize("n", [105, 1005])
def test_a_new_article_costs_at_most_two_paths_by_default(n: int) -> None:
    site = populated(n)
    now = START + dt.timedelta(hours=n + 2)
    before = site.snapshot()
    article = make(n + 1, category="bitcoin", tags=("etf", "mining"))
    change = site.publish(article)
    report = rebuild_changes([change], site.ports, now)
    after = site.snapshot()
    changed = changed_keys(before, after)
    assert len(report.written) >= 12  # listings, feeds, sitemaps did change ...
    assert len(report.invalidated) <= 2  # ... but only article pages are invalidated
    own = f"articles/{article.slug}/index.html"
    # The older articles nearest it (category, tags) now list it as related: rewritten in
    # the bucket, not invalidated (their CDN copies lack one link until they expire).
    pages = {k for k in changed if k.startswith("articles/") and k != own}
    following = f'<a href="/articles/{article.slug}/" rel="next">'.encode()
    nexts = {k for k in pages if following in after[k]}
    assert set(report.invalidated) == {"/" + k for k in nexts}
    assert len(nexts) == 1
    joined = pages - nexts
    link = f'<li><a href="/articles/{article.slug}/">'.encode()
    assert len(joined) >= 3
    assert all(link in after[k] and link not in before[k] for k in joined)
    assert site.cdn.requests == [report.invalidated]
    assert site.queue.entries == {}
    # Every other page that changed expires within a minute (the new article's own page
    # was never cached: publish wrote it just now).
    for key in changed - {p.lstrip("/") for p in report.invalidated} - {own} - joined:
        if not key.startswith("_internal/"):
            lifetime = shared_lifetime(site.site.objects[key].cache_control)
            assert lifetime is not None
            assert lifetime <= 60, key


def test_exact_mode_still_invalidates_every_changed_page() -> None:
    site = populated(105, mode="exact")
    before = site.snapshot()
    change = site.publish(make(106, category="bitcoin"))
    report = rebuild_changes([change], site.ports, START + dt.timedelta(hours=108))
    changed = changed_keys(before, site.snapshot())
    new_page = f"articles/{make(106).slug}/index.html"  # written by publish, never cached
    public = {k for k in changed if not k.startswith("_internal/")} - {new_page}
    assert set(report.invalidated) == {"/" + k for k in public}
    assert len(report.invalidated) > 10


def test_an_edited_article_and_its_neighbours_are_invalidated() -> None:
    site = populated(10)
    edited = make(5, title="Retitled", content_hash="h5b")
    change = site.publish(edited)  # publish rewrote the page already
    report = rebuild_changes([change], site.ports, START + dt.timedelta(hours=12))
    # Its own page, and the neighbours in its category that show its title.
    assert report.invalidated == [
        "/articles/a00003/index.html",
        "/articles/a00005/index.html",
        "/articles/a00007/index.html",
    ]


# -- never lost ----------------------------------------------------------------------------------


def test_a_refused_invalidation_is_sent_by_the_next_batch_or_the_schedule() -> None:
    site = populated(20)
    site.cdn.refusals = [CdnUnavailable("TooManyInvalidationsInProgress")] * 2
    first = rebuild_changes([site.publish(make(21))], site.ports, START + dt.timedelta(hours=22))
    assert (first.invalidated, first.deferred) == ([], 1)
    assert first.cdn_error.startswith("TooManyInvalidationsInProgress")
    # The next batch sends its own paths and the ones left over, in one request ...
    second = rebuild_changes([site.publish(make(22))], site.ports, START + dt.timedelta(hours=23))
    assert (second.invalidated, second.deferred) == ([], 2)  # ... refused again here
    expected = ["/articles/a00018/index.html", "/articles/a00019/index.html"]  # the neighbours
    assert sorted(site.queue.entries) == expected
    done = flush_invalidations(site.ports)  # the schedule
    assert done.invalidated == expected
    assert site.queue.entries == {}
    assert flush_invalidations(site.ports).invalidated == []  # nothing left


class Crash(BaseException):
    """The Lambda dies (timeout, out of memory): nothing in the function catches it."""


class FaultyWriter:
    """Dies at the n-th write or delete of a public page: just before it, or just after it
    landed (``after``)."""

    def __init__(self, site: MemorySite, at: int, *, after: bool) -> None:
        self.site = site
        self.at = at
        self.after = after
        self.seen = 0

    def _run(self, path: str, change: Callable[[], bool]) -> bool:
        if path.startswith("_internal/"):
            return change()
        self.seen += 1
        if self.seen == self.at and not self.after:
            raise Crash(path)
        changed = change()
        if self.seen == self.at:
            raise Crash(path)
        return changed

    def write(self, path: str, data: bytes, content_type: str, cache_control: str) -> bool:
        return self._run(path, lambda: self.site.write(path, data, content_type, cache_control))

    def delete(self, path: str) -> bool:
        return self._run(path, lambda: self.site.delete(path))

    def read(self, path: str) -> bytes | None:
        return self.site.read(path)


def long_lived_changes(before: dict[str, bytes], site: MemorySite) -> set[str]:
    after = {k: o.data for k, o in site.objects.items()}
    return {
        "/" + k
        for k in changed_keys(before, after)
        if k.startswith("articles/")
        and (k not in site.objects or "86400" in site.objects[k].cache_control)
    }


def test_no_fault_between_page_writes_and_the_invalidation_loses_a_path() -> None:
    """Kill the rebuild at every page write in turn, just before it and just after it landed
    (and CloudFront's answer is covered below); Lambda then retries the batch, whose pages are
    now partly identical. Every article page the batch changed must still reach CloudFront."""
    base = populated(30)
    edited = make(12, title="Retitled twelve", content_hash="h12b")
    new = make(31, category="wallet")
    clean = _copy(base)
    changes = [clean.publish(edited), clean.publish(new)]
    invalidated = set(
        rebuild_changes(changes, clean.ports, START + dt.timedelta(hours=40)).invalidated
    )
    faults, lost = 0, []
    for after in (False, True):
        for at in range(1, 60):
            site = _copy(base)
            before = site.snapshot()
            changes = [site.publish(edited), site.publish(new)]
            faulty = FaultyWriter(site.site, at, after=after)
            ports = dataclasses.replace(site.ports, site=faulty)
            now = START + dt.timedelta(hours=40)
            try:
                rebuild_changes(changes, ports, now)
            except Crash:
                faults += 1
                rebuild_changes(changes, site.ports, now)  # Lambda retries the batch
            else:
                break  # fewer page writes than ``at``: every fault point was tried
            published_new = f"/articles/{new.slug}/index.html"  # never cached
            expected = long_lived_changes(before, site.site) - {published_new}
            # Pages that only gained a related link are not invalidated, fault or none.
            expected &= invalidated
            assert len(expected) >= 3
            if not expected <= site.cdn.paths:
                lost.append((after, at, sorted(expected - site.cdn.paths)))
    assert faults >= 30
    assert lost == []


def _copy(base: Site) -> Site:
    site = Site()
    site.store = _clone_store(base.store)
    site.site.objects = dict(base.site.objects)
    site.seq = base.seq
    site.ports = dataclasses.replace(site.ports, store=site.store, site=site.site)
    return site


def _clone_store(store: InMemoryArticleStore) -> InMemoryArticleStore:
    return copy.deepcopy(store)


def test_a_crash_before_cloudfront_answers_loses_nothing() -> None:
    site = populated(20)
    change = site.publish(make(5, title="Retitled", content_hash="h5b"))
    now = START + dt.timedelta(hours=22)
    real = site.cdn.invalidate

    def taken_then_crash(paths: list[str], reference: str = "") -> None:
        real(paths, reference)  # CloudFront took it ...
        raise Crash("... and the Lambda died before the answer arrived")

    site.cdn.invalidate = taken_then_crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        rebuild_changes([change], site.ports, now)
    site.cdn.invalidate = real  # type: ignore[method-assign]
    assert len(site.queue.entries) == 3  # still pending: nobody saw CloudFront's answer
    retry = rebuild_changes([change], site.ports, now)  # the batch again: pages identical now
    assert retry.written == []
    assert retry.invalidated == site.cdn.requests[0]
    assert site.queue.entries == {}


def test_a_request_resent_unchanged_after_a_lost_answer_is_not_billed_twice() -> None:
    queue, cdn = InMemoryInvalidationQueue(), InMemoryCdn()
    queue.record("/articles/a/index.html", "t1", 0)
    real = cdn.invalidate

    def taken_but_timed_out(paths: list[str], reference: str = "") -> None:
        real(paths, reference)
        raise CdnUnavailable("ReadTimeoutError")  # the adapter's view of a lost answer

    cdn.invalidate = taken_but_timed_out  # type: ignore[method-assign]
    assert flush(queue, cdn, threshold=50).deferred == 1
    cdn.invalidate = real  # type: ignore[method-assign]
    assert flush(queue, cdn, threshold=50).covered == 1  # the schedule, a minute later
    assert cdn.requests == [["/articles/a/index.html"]]  # one invalidation: same reference


# -- the queue and the recording writer -----------------------------------------------------------


def test_an_unchanged_write_takes_back_only_its_own_record() -> None:
    queue = InMemoryInvalidationQueue()
    site = MemorySite()
    site.write("articles/a/index.html", b"old", HTML, CACHE_ARTICLE)
    writer = RecordingWriter(site, queue, mode="articles", threshold=50, at=1)
    assert not writer.write("articles/a/index.html", b"old", HTML, CACHE_ARTICLE)
    assert queue.entries == {}  # nothing changed: nothing to invalidate
    # A record left by an attempt that wrote these bytes and died stays.
    queue.record("/articles/a/index.html", "earlier-attempt", 0)
    assert not writer.write("articles/a/index.html", b"old", HTML, CACHE_ARTICLE)
    assert set(queue.entries) == {"/articles/a/index.html"}
    assert writer.write("index.html", b"new", HTML, CACHE_PAGE)  # short-lived: not recorded
    assert set(queue.entries) == {"/articles/a/index.html"}


def test_a_path_recorded_again_after_the_request_went_out_stays_pending() -> None:
    queue = InMemoryInvalidationQueue()
    queue.record("/articles/a/index.html", "first", 0)
    cdn = InMemoryCdn()
    real = cdn.invalidate

    def racing(paths: list[str], reference: str = "") -> None:
        real(paths, reference)
        queue.record("/articles/a/index.html", "second", 5)  # written again meanwhile

    cdn.invalidate = racing  # type: ignore[method-assign]
    flush(queue, cdn, threshold=50)
    assert queue.entries["/articles/a/index.html"] == PendingPath(
        "/articles/a/index.html", "second", 0
    )


def test_a_flush_is_one_request_capped_or_one_wildcard() -> None:
    queue = InMemoryInvalidationQueue()
    cdn = InMemoryCdn()
    for i in range(60):
        queue.record(f"/articles/a{i}/index.html", "t", 100)
    expected = tuple(sorted(queue.entries))
    assert flush(queue, cdn, threshold=100).invalidated == expected
    assert cdn.requests == [list(expected)]
    for i in range(MAX_PATHS_PER_REQUEST + 5):
        queue.record(f"/p/{i}", "t", 100)
    report = flush(queue, cdn, threshold=MAX_PATHS_PER_REQUEST)  # over the per-request cap
    assert report.invalidated == ("/*",)
    assert report.covered == MAX_PATHS_PER_REQUEST + 5
    assert queue.entries == {}
    cdn.refusals = [CdnUnavailable("Throttling")]
    queue.record("/x", "t", 100)
    report = flush(queue, cdn, threshold=50, now=400)
    assert (report.deferred, report.oldest_pending) == (1, 300)


def test_a_full_rebuild_records_one_wildcard_not_every_page() -> None:
    site = populated(200)
    site.store.site = dataclasses.replace(site.store.site, yaml_text="name: Renamed\n")
    report = rebuild_all(site.ports, START + dt.timedelta(hours=210))
    assert report.invalidated == ["/*"]
    threshold = site.ports.wildcard_threshold
    assert report.pages_written > 4 * threshold
    # Two records per kept path until the wildcard (and a few taken back): bounded, not O(N).
    assert site.queue.calls["UpdateItem"] <= 3 * threshold


def test_rebuild_without_a_distribution_records_nothing() -> None:
    site = populated(5)
    quiet = dataclasses.replace(site.ports, cdn=None)
    rebuild_changes([site.publish(make(6))], quiet, START + dt.timedelta(hours=8))
    assert site.queue.calls.get("UpdateItem", 0) == 0


def test_flushing_on_the_schedule_only_sends_one_wildcard_for_many_publishes() -> None:
    site = populated(40)
    site.ports = dataclasses.replace(site.ports, flush_each_batch=False, wildcard_threshold=1)
    for i in range(41, 61):  # twenty publishes, a batch each, within the minute
        report = rebuild_changes([site.publish(make(i))], site.ports, START + dt.timedelta(hours=i))
        assert report.invalidated == []  # recorded, not sent
    assert len(site.queue.entries) >= 20
    assert flush_invalidations(site.ports).invalidated == ["/*"]  # the minute's schedule
    assert site.cdn.requests == [["/*"]]
    assert site.queue.entries == {}


class BrokenQueue(InMemoryInvalidationQueue):
    def pending(self, limit: int) -> list[PendingPath]:
        raise ConnectionError("the table is unreachable")


def test_a_broken_queue_never_fails_a_batch_but_fails_the_schedule() -> None:
    site = populated(10)
    site.ports = dataclasses.replace(site.ports, invalidations=BrokenQueue())
    report = rebuild_changes([site.publish(make(11))], site.ports, START + dt.timedelta(hours=12))
    assert report.cdn_error == "ConnectionError: the table is unreachable"
    with pytest.raises(ConnectionError):  # the schedule's run errors: alarmed
        flush_invalidations(site.ports)


# -- related lists and the CDN ---------------------------------------------------------------------


def test_no_cached_page_links_an_article_that_is_gone() -> None:
    """The CDN keeps every article page until it is invalidated. A new article (newest, then
    one backdated between others) joins related lists quietly; then articles are unpublished,
    removed and re-dated: no page the CDN still holds may link an article page that is gone."""
    site = populated(30)
    cdn = site.snapshot()  # what CloudFront holds: every page, cached at the full rebuild
    hour = 40

    def apply(article: Article) -> list[str]:
        nonlocal hour
        hour += 1
        report = rebuild_changes(
            [site.publish(article)], site.ports, START + dt.timedelta(hours=hour)
        )
        now = site.snapshot()
        for path in report.invalidated:
            key = path.lstrip("/")
            cdn.pop(key, None)
            if key in now:
                cdn[key] = now[key]
        for key, data in now.items():
            cdn.setdefault(key, data)  # first requested after it was written
        return report.invalidated

    def dead_links() -> list[tuple[str, str]]:
        live = site.snapshot()
        return [
            (key, target)
            for key, data in cdn.items()
            if key.startswith("articles/") and key in live
            for target in re_links(data)
            if f"articles/{target}/index.html" not in live
        ]

    assert len(apply(make(31, tags=("etf", "mining")))) <= 2  # newest: joins quietly
    # Some page's list now ranks it above an article its CDN copy still links ...
    live = site.snapshot()
    dropped = sorted(
        target
        for key, data in cdn.items()
        if key.startswith("articles/")
        for target in re_links(data) - re_links(live[key])
    )
    assert dropped
    apply(make(int(dropped[0][1:]), status="removed"))  # ... and that article goes
    assert dead_links() == []
    backdated = make(
        32,
        date=START + dt.timedelta(hours=12, minutes=30),
        category="bitcoin",
        tags=("etf", "mining"),
    )
    paths = apply(backdated)  # between a00012 and a00013: pushes a00013 out of a00009's window
    assert len(paths) > 2
    for change in [
        make(13, status="draft"),  # unpublished
        make(11, status="removed"),
        make(14, date=START + dt.timedelta(hours=29, minutes=30)),  # re-dated: moved
        make(31, status="removed"),
    ]:
        apply(change)
        assert dead_links() == []


def re_links(data: bytes) -> set[str]:
    return set(re.findall(r'href="/articles/([^/"]+)/"', data.decode()))
