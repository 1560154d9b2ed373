"""Entity charts: PNGs are written, and Arabic labels are shaped and in the right order."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from akhbar import charts
from akhbar.warehouse.gold import gold_statements
from akhbar.warehouse.lake import Warehouse, WarehouseError
from akhbar.warehouse.schema import ARTICLES, ENTITIES, ENTITY_MENTIONS


def test_rtl_shapes_and_reverses_arabic() -> None:
    # بيت in logical order → initial beh, medial yeh, final teh, drawn left to right: teh first.
    assert charts.rtl("بيت") == "\ufe96\ufef4\ufe91"
    shaped = charts.rtl("حلف الناتو")
    assert all("\ufe70" <= c <= "\ufeff" or c == " " for c in shaped)
    assert shaped.split(" ")[-1] == charts.rtl("حلف")  # first word ends up on the right
    assert charts.rtl("NATO 2021") == "NATO 2021"  # no Arabic: untouched
    mixed = charts.rtl("الناتو NATO")
    assert "NATO" in mixed and mixed.endswith(charts.rtl("الناتو"))


def test_label_matches_what_matplotlib_does() -> None:
    text = "خليفة حفتر"
    assert charts.label(text) == (text if charts.MATPLOTLIB_SHAPES else charts.rtl(text))
    assert charts.FONT_PATH.exists()


def _day(d: int) -> datetime:
    return datetime(2021, 2, d, 9, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    wh = Warehouse(tmp_path_factory.mktemp("charts") / "wh")
    con = wh.connect()
    wh.ensure_schema(con)
    people = [("per:khalifa-haftar", "PER", "خليفة حفتر", "Khalifa Haftar", ["حفتر", "Haftar"]),
              ("iso:LY", "LOC", "ليبيا", "Libya", []), ("iso:RU", "LOC", "روسيا", "Russia", []),
              ("org:nato", "ORG", "حلف شمال الأطلسي", "NATO", ["الناتو"])]
    entities = [{"entity_id": i, "type": t, "name_ar": ar, "name_en": en, "aliases": al, "origin": "reference",
                 "run_id": "r"} for i, t, ar, en, al in people]
    articles, mentions = [], []
    plan = [(1, "alpha", ["per:khalifa-haftar", "iso:LY"]), (1, "beta", ["per:khalifa-haftar", "iso:RU", "iso:LY"]),
            (2, "alpha", ["per:khalifa-haftar", "org:nato"]), (3, "gamma", ["per:khalifa-haftar", "iso:LY"])]
    for n, (day, source, ids) in enumerate(plan):
        aid = f"a{n}"
        articles.append({"article_id": aid, "source": source, "title": f"خبر {n}", "body": "نص",
                         "published_at": _day(day), "run_id": "r"})
        mentions += [{"article_id": aid, "entity_id": e, "surface": "x", "label": "PER", "start": 0, "end": 1,
                      "run_id": "r"} for e in ids]
    # The gold statements too: `chart pairs` reads the entity_pair_totals gold table.
    mention_rows = ENTITY_MENTIONS.from_rows(mentions)
    wh.publish(con, {"articles": ARTICLES.from_rows(articles), "entities": ENTITIES.from_rows(entities),
                     "entity_mentions": mention_rows}, gold_statements(con, articles, [], [], mentions=mention_rows))
    con.close()
    return wh


def _png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_chart_entity_by_arabic_name_variant(warehouse: Warehouse, tmp_path: Path) -> None:
    info = charts.chart_entity(warehouse, "حَفتَر", "2021-02-01", tmp_path / "e.png")
    assert (info["entity_id"], info["days"], info["sources"], info["mentions"]) == ("per:khalifa-haftar", 3, 3, 4)
    _png(tmp_path / "e.png")
    assert charts.chart_entity(warehouse, "per:khalifa-haftar", "2021-02-03", tmp_path / "e3.png")["days"] == 1


def test_chart_pairs_by_english_name(warehouse: Warehouse, tmp_path: Path) -> None:
    data = charts.entity_pairs_top(warehouse, "Haftar")
    assert data["rows"][0] == ("iso:LY", "ليبيا", 3)
    info = charts.chart_pairs(warehouse, "haftar", tmp_path / "p.png", top=2)
    assert info["pairs"] == 2
    _png(tmp_path / "p.png")


def test_unknown_entity_says_so(warehouse: Warehouse, tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="no entity named"):
        charts.chart_pairs(warehouse, "لا أحد", tmp_path / "x.png")
