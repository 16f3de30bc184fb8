"""Site settings: defaults reproduce the real site; a bad settings file says what is wrong."""

from __future__ import annotations

import pytest

from chainpress.settings import SettingsError, SiteSettings


def test_defaults_reproduce_the_real_site() -> None:
    settings = SiteSettings.from_yaml("")
    assert settings.name == "Blockchain Circle"
    assert settings.tagline == "One stop hot information platform"
    assert [c.key for c in settings.categories][:3] == ["blockchain", "digital-currency", "wallet"]


def test_categories_accept_a_mapping_and_keep_order() -> None:
    settings = SiteSettings.from_yaml(
        "base_url: https://news.example.com/\ncategories:\n  nft: NFT\n  defi: DeFi\n"
    )
    assert [(c.key, c.label) for c in settings.categories] == [("nft", "NFT"), ("defi", "DeFi")]
    assert settings.absolute("/articles/x/") == "https://news.example.com/articles/x/"
    assert settings.category_label("defi") == "DeFi"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- a\n- b", "must be a mapping"),
        ("colour: red", "unknown setting(s): colour"),
        ("page_size: 0", "page_size must be a whole number"),
        ("page_size: true", "page_size must be a whole number"),
        ("timezone: Mars/Base", "not a known IANA time zone"),
        ("categories: []", "at least one category"),
        ("name: 3", "name must be text"),
        ("link_schemes: ipfs", "link_schemes must be a list"),
        ("link_schemes: [javascript]", "javascript: links are never allowed"),
        ("link_schemes: [Data]", "data: links are never allowed"),
        ("link_schemes: [vbscript]", "vbscript: links are never allowed"),
        ("link_schemes: ['no scheme']", "'no scheme' is not a URL scheme"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SiteSettings.from_yaml(text)


@pytest.mark.parametrize(
    ("tag", "normalised"),
    [
        ("zh", "zh"),
        ("ZH", "zh"),
        ("zh_cn", "zh-CN"),
        ("zh-hans", "zh-Hans"),
        ("zh-Hant-TW", "zh-Hant-TW"),
        ("en-us", "en-US"),
        ("es-419", "es-419"),
        ("english", None),
        ("", None),
        ("zh--CN", None),
    ],
)
def test_language_tags_are_normalised(tag: str, normalised: str | None) -> None:
    from chainpress.settings import normalise_language

    assert normalise_language(tag) == normalised


def test_labels_fall_back_from_tag_to_language_to_english() -> None:
    settings = SiteSettings.from_yaml("labels:\n  zh: {time: 'T:'}\n  zh-TW: {home: 首頁}\n")
    zh_tw = settings.labels_for("zh-TW")
    assert (zh_tw["home"], zh_tw["time"], zh_tw["hot"]) == ("首頁", "T:", "热门")
    assert settings.labels_for("zh")["home"] == "首页"
    assert settings.labels_for("fr")["home"] == "Home"  # no table: English
    assert settings.labels_for("not a tag")["home"] == "Home"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("labels: [zh]", "labels must be a mapping"),
        ("labels: {chinese!: {home: x}}", "not a language tag"),
        ("labels: {zh: {homepage: x}}", "unknown label(s) homepage"),
        ("labels: {zh: {home: [x]}}", "labels.zh.home must be text"),
    ],
)
def test_bad_labels_are_refused(text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SiteSettings.from_yaml(text)


def test_find_category_by_key_label_or_spelling() -> None:
    settings = SiteSettings()
    assert settings.find_category("bitcoin") == "bitcoin"
    assert settings.find_category("Digital currency") == "digital-currency"
    assert settings.find_category("DIGITAL_CURRENCY") == "digital-currency"
    assert settings.find_category("ERC") is None


def test_link_schemes_default_and_from_site_yaml() -> None:
    assert SiteSettings().link_schemes == ("ipfs", "ipns", "ar", "wss", "tel", "bitcoin")
    settings = SiteSettings.from_yaml("link_schemes: [IPFS, 'magnet:', ipfs, ftp]")
    assert settings.link_schemes == ("ipfs", "magnet", "ftp")
