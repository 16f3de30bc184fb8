"""``chainpress build``: a static export with no AWS that re-runs only what changed."""

from __future__ import annotations

import sys
import types
from importlib import resources
from pathlib import Path

import pytest

from chainpress_dev import cli
from chainpress_dev.folder import FolderSiteWriter, UnsafeKey


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def article(title: str, day: int, tags: str = "[ETF]") -> str:
    return (
        f"---\ntitle: {title}\ndate: 2024-03-{day:02d} 08:00\ncategory: bitcoin\ntags: {tags}\n"
        f"---\n\n**{title}** body.\n"
    )


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    write(root / "site.yaml", "name: Test Circle\n")
    for day, slug in ((1, "alpha"), (2, "beta"), (3, "链圈-gamma")):
        write(root / "articles" / f"{slug}.md", article(slug.title(), day))
    write(root / "media" / "chart.png", "png")
    write(root / "articles" / ".draft.md.swp", "editor junk")
    return root


def test_build_then_rebuild_reuses_bodies_and_writes_nothing(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = cli.build_site(content, out, base_url="https://news.example.com")
    assert (first.articles, first.parsed, first.reused, first.errors) == (3, 3, 0, [])
    assert "<strong>Beta</strong>" in (out / "articles/beta/index.html").read_text()
    assert (out / "articles/链圈-gamma/index.html").is_file()
    assert (out / "media/chart.png").read_text() == "png"
    assert "https://news.example.com/sitemap.xml" in (out / "robots.txt").read_text()
    assert "Test Circle" in (out / "index.html").read_text()

    second = cli.build_site(content, out, base_url="https://news.example.com")
    assert (second.parsed, second.reused) == (0, 3)
    assert second.report is not None
    assert second.report.written == []
    assert second.pruned == 0


def test_theme_only_change_rerenders_without_markdown(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cli.build_site(content, out)
    bundled = resources.files("chainpress").joinpath("theme/templates/base.html").read_text()
    write(content / "theme" / "base.html", bundled.replace("</body>", "<!-- v2 --></body>"))
    again = cli.build_site(content, out)
    assert (again.parsed, again.reused) == (0, 3)
    assert again.report is not None
    assert "articles/alpha/index.html" in again.report.written
    assert "<!-- v2 -->" in (out / "articles/alpha/index.html").read_text()


def test_settings_change_reparses_and_removed_sources_are_pruned(
    content: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cli.build_site(content, out)
    (content / "articles" / "beta.md").unlink()
    write(content / "articles" / "delta.md", article("Delta", 4, tags="[Mining]"))
    result = cli.build_site(content, out, base_url="https://other.example.com")
    assert result.parsed == 3  # the base URL shapes bodies: nothing cached is reused
    assert not (out / "articles/beta").exists()
    assert not (out / "_internal/bodies/beta.html").exists()
    assert (out / "tag/mining/index.html").is_file()
    assert "beta" not in (out / "index.html").read_text()


def test_main_reports_bad_sources_and_still_builds(
    content: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(content / "articles" / "broken.md", "---\ntitle: [unclosed\n---\nx\n")
    code = cli.main(["build", str(content), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert "articles/broken.md" in err
    assert "3 articles (3 parsed, 0 reused)" in err
    assert (tmp_path / "out/articles/alpha/index.html").is_file()
    assert cli.main(["build", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2


def test_flat_folder_of_markdown_is_read_as_articles(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    write(flat / "one.md", article("One", 1))
    write(flat / "2024" / "two.md", article("Two", 2))
    result = cli.build_site(flat, tmp_path / "out")
    assert result.articles == 2
    assert (tmp_path / "out/articles/two/index.html").is_file()


def test_dev_runs_the_local_stack_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    fake = types.ModuleType("chainpress_dev.local.stack")
    fake.main = lambda argv: calls.append(argv) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "chainpress_dev.local.stack", fake)
    import chainpress_dev.local

    monkeypatch.setattr(chainpress_dev.local, "stack", fake, raising=False)
    assert cli.main(["dev", "--port", "9000"]) == 0
    assert calls == [["--port", "9000"]]


def test_folder_writer_skips_identical_bytes_and_refuses_escapes(tmp_path: Path) -> None:
    writer = FolderSiteWriter(tmp_path)
    assert writer.write("a/b/index.html", b"x", "text/html", "") is True
    assert writer.write("a/b/index.html", b"x", "text/html", "") is False
    assert writer.read("a/b/index.html") == b"x"
    assert writer.delete("a/b/index.html") is True
    assert not (tmp_path / "a").exists()  # emptied folders go too
    assert writer.delete("a/b/index.html") is False
    for bad in ("../x", "/etc/passwd", "a//b", "a/./b", "a\\b"):
        with pytest.raises(UnsafeKey):
            writer.write(bad, b"", "", "")


def test_progress_bar_draws_only_on_a_terminal() -> None:
    class Terminal:
        def __init__(self, tty: bool) -> None:
            self.tty = tty
            self.text = ""

        def isatty(self) -> bool:
            return self.tty

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    tty, pipe = Terminal(True), Terminal(False)
    for stream in (tty, pipe):
        bar = cli.Progress("parse", 4, stream)  # type: ignore[arg-type]
        for _ in range(4):
            bar.step()
        bar.close()
    assert "4/4" in tty.text
    assert tty.text.endswith("\n")
    assert pipe.text == ""


def test_parallel_parse_builds_the_same_site(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = cli.build_site(content, tmp_path / "serial", jobs=1)
    monkeypatch.setattr(cli, "PARALLEL_FROM", 1)
    parallel = cli.build_site(content, tmp_path / "parallel", jobs=2)
    assert (serial.parsed, parallel.parsed) == (3, 3)
    for path in sorted((tmp_path / "serial").rglob("*")):
        twin = tmp_path / "parallel" / path.relative_to(tmp_path / "serial")
        if path.is_file() and "build-index" not in path.name:
            assert twin.read_bytes() == path.read_bytes(), path
