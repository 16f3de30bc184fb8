"""Full re-renders fanned out over a work queue: every page of a site of any size, in chunks.

Pure: receives its ports (article store, site writer, hot lists, CDN, run record, work queue),
never imports boto3. ``rebuilding.rebuild_all`` is the serial reference (one process, the whole
site); this module renders the same pages, split into work items that each stay well inside one
Lambda invocation whatever the number of articles. The queue is SQS with a Lambda event source
(``functions/rerender``); in tests and ``make dev`` the same handler runs behind a local poller.

* **Start** (``start_rerender``: the stream consumer on a ``site`` record, or a manual
  ``rebuild-all``) writes the run record with one conditional write and queues one ``plan``
  item, then returns. A trigger while a run is going does not start another: the run is
  marked *pending*, and when it finishes it starts exactly one more (the newest settings and
  theme must win).
* **Split without reading the table**: ``plan`` reads two listing heads (O(1)) and sizes a
  DynamoDB parallel scan so that a segment holds about ``Limits.chunk_articles`` articles.
  ``segment`` items scan their segment one request at a time (memory flat in N) and render
  the article pages of the article records they read; a segment item stops after
  ``chunk_articles`` articles or ``scan_requests`` requests and queues its own continuation (a
  listing's members are one item collection, so the segment holding ``list#home`` reads N
  items: continuations keep that segment's invocations bounded too).
* **Listings once per run**: the listing heads a segment reads become ``listing`` items (page
  ranges ``[first, last]``, page 0 = front page + feed) and, for home, ``shards`` items (sitemap
  shards), built with ``pages.build`` through the same converge loop as ``rebuild_all``.
* **A tree of messages**: a range bigger than its leaf size splits into at most
  ``Limits.fanout`` children (one SendMessageBatch), and long lists of items travel in
  ``group`` items, so no invocation's sends grow with N.
* **Exactly-once counting over at-least-once delivery** (``RerenderRuns``): an item reserves
  its children into the run's total *before* sending them, then counts itself done; both once
  per item id. The item whose count completes the run claims and sends ``finish``: the pages
  no listing guards (summaries, robots, 404, static assets, the sitemap index, after every
  shard), ONE CDN invalidation ``/*`` for the run, and the pending re-run if one was asked for.
* **Failures**: an item that raises is delivered again (SQS visibility timeout); its last
  attempt records its id in the run's ``failed`` set and it moves to the dead-letter queue.
  The run then waits (it cannot finish without that item) until an operator redrives the DLQ;
  a new trigger supersedes a run with failed items. Items are idempotent (writers skip
  identical bytes; counts are once per item), so redelivery is always safe.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from collections.abc import Sequence

from chainpress.invalidation import WILDCARD, flush
from chainpress.model import SCHEDULED, format_time, is_paged_listing
from chainpress.pages import (
    HOME,
    BuildContext,
    ListingPlan,
    Page,
    _has_feed,
    listing_page_count,
    month_page_count,
    sitemap_shard_count,
    unguarded_pages,
)
from chainpress.ports import RerenderRuns, RunStart, WorkQueue
from chainpress.publishing import alias_keys, page_key, write_article_page
from chainpress.rebuilding import (
    RebuildPorts,
    _build_pages,
    _context,
    _converge,
    _Session,
    _settle_aliases,
)

__all__ = [
    "ItemReport",
    "Limits",
    "RerenderPorts",
    "WorkItem",
    "handle_item",
    "record_failure",
    "run_id_for",
    "start_rerender",
]

# DynamoDB allows at most 1,000,000 segments in a parallel scan.
MAX_SEGMENTS = 1_000_000
# A run older than this is taken for lost and superseded by the next trigger.
STALE_AFTER = dt.timedelta(hours=12)


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """How much one work item may do. At ~10 requests per article page, 80 articles and 40
    Scan requests are ~850 requests: ~13 s at 15 ms a request, so a batch of 4 items stays
    under a minute of work (the function's timeout is three times that)."""

    chunk_articles: int = 80  # article pages per segment item
    scan_requests: int = 40  # Scan requests per segment item
    # Items a Scan request reads (a 1 MB page holds ~900): an item never renders more than
    # chunk_articles + scan_items articles, whatever the table holds.
    scan_items: int = 320
    listing_pages: int = 40  # listing pages per listing item
    shards: int = 5  # sitemap shards (1,000 URLs each) per shards item
    fanout: int = 10  # children an item may send (one SendMessageBatch)


@dataclasses.dataclass(frozen=True, slots=True)
class RerenderPorts:
    rebuild: RebuildPorts
    runs: RerenderRuns
    queue: WorkQueue
    limits: Limits = Limits()


@dataclasses.dataclass(frozen=True, slots=True)
class WorkItem:
    """One message of the work queue (its JSON body)."""

    run: str
    id: str  # unique within the run, the same on every delivery
    kind: str  # plan | segment | listing | shards | months | group | finish
    first: int = 0  # range (segments, listing pages, shards), inclusive
    last: int = 0
    total: int = 0  # segment: TotalSegments of the scan
    listing: str = ""
    cursor: str | None = None  # segment: where its scan resumes
    hop: int = 0  # segment: continuations so far
    items: tuple[str, ...] = ()  # group: bodies of the items it carries

    def body(self) -> str:
        fields = {k: v for k, v in dataclasses.asdict(self).items() if v not in (0, "", None, ())}
        return json.dumps(fields, ensure_ascii=False, sort_keys=True)

    @classmethod
    def parse(cls, body: str) -> WorkItem:
        data = json.loads(body)
        if not isinstance(data, dict) or not data.get("run") or not data.get("id"):
            raise ValueError(f"not a work item: {body[:200]!r}")
        data["items"] = tuple(data.get("items", ()))
        return cls(**data)


@dataclasses.dataclass(slots=True)
class ItemReport:
    """What one work item did (the handler logs it and turns it into metrics)."""

    run: str
    id: str
    kind: str
    outcome: str = "done"  # done | skipped-done (already counted) | skipped-stale (old run)
    written: int = 0  # public pages whose bytes changed
    deleted: int = 0
    unchanged: int = 0
    articles: int = 0  # article records rendered (segment items)
    scan_requests: int = 0
    children: int = 0  # work items queued
    finished: bool = False  # the run is over (finish item)
    next_run: str = ""  # the pending run the finish item started


def run_id_for(trigger: str) -> str:
    """A run id derived from what triggered it, so a retried trigger finds its own run."""
    return "r" + hashlib.sha256(trigger.encode("utf-8")).hexdigest()[:20]


def _plan(run_id: str) -> WorkItem:
    return WorkItem(run=run_id, id="plan", kind="plan")


def start_rerender(ports: RerenderPorts, trigger: str, now: dt.datetime) -> RunStart:
    """Start a full re-render (or coalesce into the running one) and return at once."""
    start = ports.runs.start(
        run_id_for(trigger),
        trigger,
        format_time(now),
        stale_before=format_time(now - STALE_AFTER),
    )
    if start.started:
        ports.queue.send([_plan(start.run.run_id).body()])
    return start


def record_failure(ports: RerenderPorts, body: str) -> None:
    """The last delivery of ``body`` failed: the run shows it until the DLQ is redriven."""
    item = WorkItem.parse(body)
    ports.runs.record_failure(item.run, item.id)


# ------------------------------------------------------------------------------------------
# One work item


def handle_item(body: str, ports: RerenderPorts, now: dt.datetime) -> ItemReport:
    """Do one work item. Raises on AWS errors (the queue delivers it again)."""
    item = WorkItem.parse(body)
    report = ItemReport(run=item.run, id=item.id, kind=item.kind)
    runs = ports.runs
    state = runs.check(item.run, item.id)
    if item.kind == "finish":
        return _finish(item, ports, now, report, current=state == "current")
    if state != "current":
        report.outcome = f"skipped-{state}"
        return report
    # Pages are not recorded for the CDN one by one: the run ends with one "/*" (finish).
    ctx = _context(dataclasses.replace(ports.rebuild, cdn=None), now)
    session = _Session(ports.rebuild.site)
    children = _work(item, ctx, session, ports.limits, report)
    _tally(report, session)
    if children:
        bodies = runs.reserve(item.run, item.id, [c.body() for c in children])
        if bodies is None:
            report.outcome = "skipped-stale"
            return report
        ports.queue.send(bodies)
        report.children = len(bodies)
    if not runs.complete(item.run, item.id):
        report.outcome = "skipped-stale"
    elif not children and runs.claim_finish(item.run, item.id):
        # This item's count completed the run (children, had there been any, would still be
        # outstanding): it alone sends the finish item.
        ports.queue.send([WorkItem(run=item.run, id="finish", kind="finish").body()])
        report.children = 1
    return report


def _tally(report: ItemReport, session: _Session) -> None:
    report.written = sum(1 for key in session.written if not key.startswith("_internal/"))
    report.deleted = len(session.deleted)
    report.unchanged = session.unchanged


def _work(
    item: WorkItem, ctx: BuildContext, session: _Session, limits: Limits, report: ItemReport
) -> list[WorkItem]:
    """Render what ``item`` covers; return the items it hands on."""
    if item.kind == "group":
        return _bounded(item, [WorkItem.parse(body) for body in item.items], limits.fanout)
    if item.kind == "plan":
        children = _plan_children(item, ctx, limits)
    elif item.kind == "segment":
        if item.first != item.last:
            children = _split(item, leaf=1, fanout=limits.fanout)
        else:
            children = _scan_segment(item, ctx, session, limits, report)
    elif item.kind == "listing":
        children = _split(item, leaf=limits.listing_pages, fanout=limits.fanout)
        if not children:
            _listing_range(item, ctx, session)
    elif item.kind == "shards":
        children = _split(item, leaf=limits.shards, fanout=limits.fanout)
        if not children:
            numbered = {Page("shard", number=n) for n in range(item.first, item.last + 1)}
            _converge(ctx, session, HOME, lambda: ListingPlan(pages=set(numbered)))
    elif item.kind == "months":
        # The pages of one archive month (``listing`` = "YYYY-MM"), guarded by home.
        children = _split(item, leaf=limits.listing_pages, fanout=limits.fanout)
        if not children:
            month = {Page("month", item.listing, k) for k in range(item.first, item.last + 1)}
            _converge(ctx, session, HOME, lambda: ListingPlan(pages=set(month)))
    else:
        raise ValueError(f"unknown work item kind {item.kind!r}")
    return _bounded(item, children, limits.fanout)


def _plan_children(item: WorkItem, ctx: BuildContext, limits: Limits) -> list[WorkItem]:
    """Size the scan from counts read in O(1), plus the listings that have no head item to be
    found by the scan (home of an empty site, settings categories without articles)."""
    store = ctx.store
    home = store.head(HOME)
    articles = max(home.count, 0) + max(store.head(SCHEDULED).count, 0)
    total = min(MAX_SEGMENTS, max(1, math.ceil(articles / limits.chunk_articles)))
    children = [
        WorkItem(
            run=item.run, id=f"segment:0-{total - 1}", kind="segment", last=total - 1, total=total
        )
    ]
    headless = [] if home.version else [HOME]
    for category in ctx.settings.categories:
        listing = f"category/{category.key}"
        if not store.head(listing).version:
            headless.append(listing)
    for listing in headless:
        children += _listing_items(item.run, ctx, listing)
    return children


def _listing_items(run: str, ctx: BuildContext, listing: str) -> list[WorkItem]:
    """Every page of a listing (plus one past the end: the stale-page probe), as ranges."""
    last = listing_page_count(ctx, listing) + 1
    items = [
        WorkItem(
            run=run, id=f"listing:{listing}:0-{last}", kind="listing", listing=listing, last=last
        )
    ]
    if listing == HOME:
        shards = sitemap_shard_count(ctx) + 1
        items.append(
            WorkItem(run=run, id=f"shards:1-{shards}", kind="shards", first=1, last=shards)
        )
        # Every month of the archive (one query of the month heads: ~12 a year), each with its
        # pages plus one past the end (the stale-page probe); the caller groups them.
        for label, head in ctx.store.months():
            last = month_page_count(head) + 1
            items.append(
                WorkItem(
                    run=run,
                    id=f"months:{label}:1-{last}",
                    kind="months",
                    listing=label,
                    first=1,
                    last=last,
                )
            )
    return items


def _scan_segment(
    item: WorkItem, ctx: BuildContext, session: _Session, limits: Limits, report: ItemReport
) -> list[WorkItem]:
    store = ctx.store
    children: list[WorkItem] = []
    cursor = item.cursor
    while True:
        page = store.scan_segment(item.first, item.total, cursor, limits.scan_items)
        report.scan_requests += 1
        for article in page.articles:
            report.articles += 1
            key = page_key(article.slug)
            if article.is_listed:
                session.record(key, write_article_page(ctx.site, ctx.theme, store, article))
                # Its redirects show the settings too (as in rebuild_all).
                _settle_aliases(ctx, session, alias_keys(article))
            else:
                _settle_aliases(ctx, session, [key])  # not live: no page, unless an alias's
        for listing in sorted(page.heads):
            # Heads of collections (sitemap shards, the tag index) and of lookups (scheduled,
            # translations) are no listings with pages.
            if is_paged_listing(listing):
                children += _listing_items(item.run, ctx, listing)
        cursor = page.cursor
        if (
            cursor is None
            or report.articles >= limits.chunk_articles
            or report.scan_requests >= limits.scan_requests
        ):
            break
    if cursor is not None:
        hop = item.hop + 1
        children.append(
            dataclasses.replace(item, id=f"segment:{item.first}+{hop}", cursor=cursor, hop=hop)
        )
    return children


def _listing_range(item: WorkItem, ctx: BuildContext, session: _Session) -> None:
    listing = item.listing
    pages = {Page("listing", listing, k) for k in range(item.first, item.last + 1)}
    if item.first == 0:
        if _has_feed(listing):
            pages.add(Page("feed", listing))
        if listing == HOME:
            pages.add(Page("news-sitemap"))
    _converge(ctx, session, listing, lambda: ListingPlan(pages=set(pages)))


def _split(item: WorkItem, *, leaf: int, fanout: int) -> list[WorkItem]:
    """At most ``fanout`` sub-ranges of the item's range, in multiples of ``leaf``; none when
    the range is a leaf already (the item renders it itself)."""
    count = item.last - item.first + 1
    if count <= leaf:
        return []
    step = max(leaf, math.ceil(count / fanout))
    step = math.ceil(step / leaf) * leaf
    children = []
    for first in range(item.first, item.last + 1, step):
        last = min(first + step - 1, item.last)
        prefix = item.id.rsplit(":", 1)[0]
        children.append(
            dataclasses.replace(item, id=f"{prefix}:{first}-{last}", first=first, last=last)
        )
    return children


def _bounded(parent: WorkItem, children: Sequence[WorkItem], fanout: int) -> list[WorkItem]:
    """``children`` as at most ``fanout`` items: the rest ride in ``group`` items."""
    if len(children) <= fanout:
        return list(children)
    size = math.ceil(len(children) / fanout)
    return [
        WorkItem(
            run=parent.run,
            id=f"{parent.id}/{index}",
            kind="group",
            items=tuple(child.body() for child in children[start : start + size]),
        )
        for index, start in enumerate(range(0, len(children), size))
    ]


def _finish(
    item: WorkItem, ports: RerenderPorts, now: dt.datetime, report: ItemReport, *, current: bool
) -> ItemReport:
    if current:
        ctx = _context(dataclasses.replace(ports.rebuild, cdn=None), now)
        session = _Session(ports.rebuild.site)
        # The sitemap index reads the shards' lastmods: every shard item is done.
        _build_pages(ctx, session, unguarded_pages(ctx) | {Page("sitemap-index")})
        _tally(report, session)
        cdn = ports.rebuild.cdn
        if cdn is not None:
            # One wildcard for the run (it counts as one path), recorded before it is sent: if
            # CloudFront refuses it now, the one-minute schedule sends it (invalidation.py).
            queue = ports.rebuild.invalidations
            queue.record(WILDCARD, f"rerender:{item.run}", int(now.timestamp()))
            flush(queue, cdn, threshold=ports.rebuild.wildcard_threshold)
    else:
        report.outcome = "skipped-stale"
    # Also on a redelivered finish: it hands back the pending run it started, if it is still
    # going, so that its plan is queued even if the first delivery stopped before sending it.
    following = ports.runs.finish(item.run, run_id_for(f"{item.run}/next"), format_time(now))
    report.finished = current
    if following is not None:
        ports.queue.send([_plan(following.run_id).body()])
        report.next_run = following.run_id
        report.children = 1
    return report
