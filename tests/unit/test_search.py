"""Site search (chainpress.search): terms, and the term files a publish, edit or delete
leaves in the site bucket, with the in-memory ports."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from chainpress.model import Article
from chainpress.rebuilding import RebuildPorts, rebuild_all, rebuild_changes
from chainpress.search import (
    TERM_LIMIT,
    Posting,
    rebuild_index,
    term_key,
    tokenize,
    update_index,
)
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryHotLists,
    InMemorySearchPostings,
    InMemorySiteWriter,
)

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def article(slug: str, title: str, minutes: int = 0, **fields: object) -> Article:
    return Article(
        slug=slug,
        title=title,
        date=T0 + dt.timedelta(minutes=minutes),
        source_key=f"articles/{slug}.md",
        content_hash=slug,
        **fields,  # type: ignore[arg-type]
    )


def found(site: InMemorySiteWriter, term: str) -> list[str]:
    """Slugs a reader's query for ``term`` lists (the term file the page fetches)."""
    data = site.read(term_key(term))
    if data is None:
        return []
    payload = json.loads(data)
    assert payload["t"] == term
    return [row[0] for row in payload["p"]]


def test_english_words_are_stemmed_and_stop_words_dropped() -> None:
    assert tokenize("The Bitcoin ETFs are running, publishing generously!") == [
        "bitcoin",
        "etf",
        "run",
        "publish",
        "generous",
    ]
    # Full-width letters (common in Chinese text) fold to the same terms.
    assert tokenize("ＥＴＦ Ｂｉｔｃｏｉｎ") == ["etf", "bitcoin"]


def test_chinese_text_gives_character_bigrams() -> None:
    assert tokenize("比特币价格") == ["比特", "特币", "币价", "价格"]
    assert tokenize("币 ETF 以太坊") == ["币", "etf", "以太", "太坊"]


def test_publish_edit_and_delete_update_exactly_the_terms_files() -> None:
    postings, site = InMemorySearchPostings(), InMemorySiteWriter()
    first = article("etf", "比特币 ETF approved", tags=("Regulation",), summary="SEC vote.")
    update_index([(None, first)], postings, site)
    assert found(site, "特币") == ["etf"]
    assert found(site, "approv") == ["etf"]  # "approved", stemmed
    assert found(site, "regul") == ["etf"]  # a tag
    edited = dataclasses.replace(first, title="以太坊 ETF rejected")
    update_index([(first, edited)], postings, site)
    assert found(site, "特币") == []  # the old title's terms no longer find it
    assert site.read(term_key("特币")) is None  # an empty term file is deleted
    assert found(site, "以太") == ["etf"]
    assert found(site, "etf") == ["etf"]
    update_index([(edited, dataclasses.replace(edited, status="removed"))], postings, site)
    assert found(site, "etf") == []
    assert found(site, "以太") == []
    assert not [key for key in site.objects if key.startswith("search/")]


def test_drafts_and_scheduled_articles_are_not_searchable() -> None:
    postings, site = InMemorySearchPostings(), InMemorySiteWriter()
    update_index(
        [(None, article("d", "Secret draft", status="draft")),
         (None, article("s", "Secret plan", status="scheduled"))],
        postings,
        site,
    )  # fmt: skip
    assert found(site, "secret") == []


def test_a_common_term_keeps_its_newest_articles() -> None:
    postings, site = InMemorySearchPostings(), InMemorySiteWriter()
    many = [article(f"a{i}", f"Bitcoin story {i}", minutes=i) for i in range(TERM_LIMIT + 30)]
    update_index([(None, a) for a in many], postings, site)
    assert found(site, "bitcoin") == [a.slug for a in reversed(many)][:TERM_LIMIT]


def test_writes_per_publish_do_not_grow_with_the_site() -> None:
    def writes_for_one_publish(n: int) -> int:
        postings, site = InMemorySearchPostings(), InMemorySiteWriter()
        old = [
            article(f"a{i}", f"Bitcoin market update {i} 比特币行情", minutes=i) for i in range(n)
        ]
        update_index([(None, a) for a in old], postings, site)
        before = site.calls["PutObject"] + postings.calls["BatchWriteItem"]
        new = article("new", "Bitcoin market update 比特币行情", minutes=n)
        update_index([(None, new)], postings, site)
        return site.calls["PutObject"] + postings.calls["BatchWriteItem"] - before

    assert writes_for_one_publish(20) == writes_for_one_publish(400) > 0


def test_a_full_build_gives_the_incremental_index() -> None:
    postings, site = InMemorySearchPostings(), InMemorySiteWriter()
    a, b = article("a", "Solana 链上 activity"), article("b", "Solana fees fall", minutes=1)
    update_index([(None, a), (None, b)], postings, site)
    b2 = dataclasses.replace(b, title="Solana fees rise", summary="链上 fees")
    update_index([(b, b2), (a, None)], postings, site)
    fresh = InMemorySiteWriter()
    rebuild_index([b2], InMemorySearchPostings(), fresh)
    index = {k: v.data for k, v in site.objects.items() if k.startswith("search/")}
    assert index == {k: v.data for k, v in fresh.objects.items() if k.startswith("search/")}
    assert found(fresh, "链上") == ["b"]


class RacingPostings(InMemorySearchPostings):
    """Another batch commits a posting of the same term right after our first read."""

    def __init__(self, racer: tuple[str, Posting]) -> None:
        super().__init__()
        self.racer: tuple[str, Posting] | None = racer

    def newest(self, term: str, limit: int) -> list[Posting]:
        answer = super().newest(term, limit)
        if self.racer is not None and term == self.racer[0]:
            self.apply([self.racer], [])
            self.racer = None
        return answer


def test_a_racing_publish_is_not_lost_from_a_term_file() -> None:
    other = article("other", "Cardano news", minutes=5)
    postings = RacingPostings(("cardano", Posting(other.sort_key, "other", other.title, True)))
    site = InMemorySiteWriter()
    update_index([(None, article("mine", "Cardano upgrade"))], postings, site)
    assert found(site, "cardano") == ["other", "mine"]


def test_rebuilds_keep_the_index_and_write_the_search_page() -> None:
    store, site = InMemoryArticleStore(), InMemorySiteWriter()
    ports = RebuildPorts(store, site, InMemoryHotLists(), search=InMemorySearchPostings())
    new = article("halving", "Bitcoin halving 减半")
    report = rebuild_changes([(None, new)], ports, T0)
    assert term_key("减半") in report.written
    assert found(site, "halv") == ["halving"]
    rebuild_all(ports, T0)
    page = (site.read("search/index.html") or b"").decode()
    assert 'action="/search/"' in page
    assert "search.js" in page
    assert b'href="/search/"' in (site.read("404.html") or b"")  # the header links it


def test_term_files_written_in_parallel_are_the_same() -> None:
    batch = [(None, article(f"a{i}", f"Bitcoin 比特币 news {i}", minutes=i)) for i in range(5)]
    serial, parallel = InMemorySiteWriter(), InMemorySiteWriter()
    update_index(batch, InMemorySearchPostings(), serial)
    report = update_index(batch, InMemorySearchPostings(), parallel, workers=8)
    assert report.terms == len(report.written) == 4  # bitcoin, news, 比特, 特币
    assert {k: v.data for k, v in serial.objects.items()} == {
        k: v.data for k, v in parallel.objects.items()
    }
