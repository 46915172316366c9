"""The dask engine gives the single-machine engine's results, on a real LocalCluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from clusterscape.coords import convert, to_local_metric
from clusterscape.detect.clusters import detect_clusters
from clusterscape.io.establishments import read_establishments
from clusterscape.measure.hotspots import grid_hotspots
from clusterscape.study.dask import dask_client, gi_star_tiled, profile_cities
from clusterscape.taxonomy import classify_establishments
from clusterscape.urban.zones import functional_zones

pytest.importorskip("distributed")

CITIES = {"hangzhou": (120.155, 30.274), "ningbo": (121.55, 29.87), "wenzhou": (120.70, 28.00)}
KINDS = [
    "餐饮服务;中餐厅;中餐厅",
    "购物服务;便民商店/便利店;便利店",
    "住宿服务;宾馆酒店;四星级宾馆",
    "购物服务;商场;购物中心",
    "公司企业;公司;公司",
]


def make_cities(path: Path, *, seed: int = 0) -> pd.DataFrame:
    """Three synthetic cities in GCJ-02 with one planted creative cluster each."""
    rng = np.random.default_rng(seed)
    frames = []
    for k, (city, (lon0, lat0)) in enumerate(CITIES.items()):
        n = 2000
        lon = lon0 + rng.normal(0, 0.03, n)
        lat = lat0 + rng.normal(0, 0.025, n)
        names = np.array([f"{city}店{i}" for i in range(n)], dtype=object)
        cats = rng.choice(KINDS, n)
        # Two planted creative clusters and scattered creative firms.
        m = 80
        c_lon = np.concatenate(
            [
                lon0 + 0.02 + rng.normal(0, 0.001, m),
                lon0 - 0.03 + rng.normal(0, 0.001, m),
                lon0 + rng.normal(0, 0.04, 60),
            ]
        )
        c_lat = np.concatenate(
            [
                lat0 - 0.01 + rng.normal(0, 0.001, m),
                lat0 + 0.02 + rng.normal(0, 0.001, m),
                lat0 + rng.normal(0, 0.03, 60),
            ]
        )
        lon = np.concatenate([lon, c_lon])
        lat = np.concatenate([lat, c_lat])
        names = np.concatenate(
            [names, [f"{city}创意广告设计有限公司{i}" for i in range(len(c_lon))]]
        )
        cats = np.concatenate([cats, np.repeat("公司企业;公司;广告装饰", len(c_lon))])
        glon, glat = convert(lon, lat, src="wgs84", dst="gcj02")
        frames.append(pd.DataFrame({
            "id": [f"{city}-{i}" for i in range(len(lon))], "name": names, "category": cats,
            "lon": glon, "lat": glat, "employees": rng.integers(1, 50, len(lon)), "city": city,
            "opened": rng.integers(2000, 2020, len(lon)),
        }))  # fmt: skip
        frames[-1].loc[5 + k, "lat"] = np.nan  # one bad row per city, rejected with its reason
    frame = pd.concat(frames, ignore_index=True)
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with dask_client(n_workers=2, memory_limit="2GB") as c:
        yield c


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("cities") / "cities.csv"
    return path, make_cities(path)


def _single_machine(frame: pd.DataFrame, city: str) -> gpd.GeoDataFrame:
    sub = frame[(frame["city"] == city) & frame["lat"].notna()].reset_index(drop=True)
    lon, lat = convert(sub["lon"].to_numpy(), sub["lat"].to_numpy(), src="gcj02", dst="wgs84")
    gdf = gpd.GeoDataFrame(
        sub.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(lon, lat), crs=4326
    )
    gdf["code"] = ""
    return to_local_metric(
        classify_establishments(gdf.astype({"name": "string", "category": "string"}))
    )


def test_profile_cities_equals_single_machine(
    client: object, data: tuple[Path, pd.DataFrame]
) -> None:
    path, frame = data
    result = profile_cities(path, datum="gcj02", cell_m=500, client=client, min_cluster_size=15)
    comp = result.comparison.set_index("city")
    assert sorted(comp.index) == sorted(CITIES)
    # the same rows rejected, with the same numbers and reasons, as the single-machine reader
    single_rejected = read_establishments(path, datum="gcj02").rejected
    assert len(result.rejected) == 3
    assert result.rejected["row"].tolist() == single_rejected["row"].tolist()
    assert result.rejected["reason"].tolist() == single_rejected["reason"].tolist()
    for city in CITIES:
        single = _single_machine(frame, city)
        assert comp.loc[city, "n_establishments"] == len(single)
        assert comp.loc[city, "n_creative"] == int(single["is_creative"].sum())
        assert comp.loc[city, "metric_epsg"] == single.crs.to_epsg()
        # Functional zones: the same labels on the same 500 m cells.
        zones = functional_zones(single, cell_m=500)
        ours = result.zones[city]
        assert len(ours) == len(zones)
        assert sorted(ours["label"].astype(str)) == sorted(zones["label"].astype(str))
        # Gi* of creative counts per cell, tile by tile: the same z as grid_hotspots on the whole grid.
        ref = grid_hotspots(single[single["is_creative"]], cell_m=500)
        np.testing.assert_allclose(
            np.sort(result.hotspots[city]["z"]), np.sort(ref["z"]), atol=1e-9
        )
        # Clusters: one task per city, the same clusters as detect_clusters on that city.
        found = detect_clusters(single[single["is_creative"]], min_cluster_size=15, seed=0)
        assert comp.loc[city, "n_clusters"] == len(found.clusters) >= 2
        assert sorted(result.clusters[city]["n"]) == sorted(found.clusters["n"])


def test_tiles_with_halo_equal_the_whole_grid() -> None:
    rng = np.random.default_rng(3)
    grid = rng.poisson(2.0, size=(70, 53)).astype(float)
    whole = gi_star_tiled(grid, tile=1000)
    tiled = gi_star_tiled(grid, tile=16, halo=1)
    np.testing.assert_allclose(tiled, whole, atol=1e-12)
    # Against the formula by hand at one interior cell (queen neighbourhood, self included).
    n, mean = grid.size, grid.mean()
    s = np.sqrt((grid**2).mean() - mean**2)
    i, j = 10, 20
    lag = grid[i - 1 : i + 2, j - 1 : j + 2].sum()
    z = (lag - mean * 9) / (s * np.sqrt((n * 9 - 81) / (n - 1)))
    assert whole[i, j] == pytest.approx(z, rel=1e-12)


def test_cli_by_city_writes_the_comparison(data: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from clusterscape.cli import app

    path, frame = data
    out = tmp_path / "cities"
    res = CliRunner().invoke(
        app,
        [
            "run",
            "--establishments",
            str(path),
            "--datum",
            "gcj02",
            "--engine",
            "dask",
            "--by",
            "city",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    comp = pd.read_csv(out / "city_comparison.csv")
    assert sorted(comp["city"]) == sorted(CITIES)
    assert comp["n_establishments"].sum() == frame["lat"].notna().sum()
    rejected = pd.read_csv(out / "rejected.csv")
    # 1-based data rows of the file: the NaN latitudes planted at rows 5+k of each city's block.
    expected = sorted(int(i) + 1 for i in np.flatnonzero(frame["lat"].isna().to_numpy()))
    assert sorted(rejected["row"]) == expected
    assert (out / "summary.json").is_file()
    bad = CliRunner().invoke(app, ["run", "--by", "city", "--out", str(out)])
    assert bad.exit_code == 1 and "--engine dask" in bad.output


def test_dask_engine_validates_rows_as_the_file_reader(tmp_path: Path) -> None:
    from clusterscape.study.dask import read_establishments_dask

    text = (
        "id,name,category,lon,lat,opened,employees\n"
        "a,甲广告设计有限公司,公司企业,121.55,29.87,2015,10\n"
        "b,乙,公司企业,121.56,29.88,2015-13-45,5\n"  # impossible date
        "c,丙,公司企业,121.57,29.89,2016,-3\n"  # negative employees
        "d,丁,公司企业,0,0,2016,3\n"  # placeholder
        "e,戊,公司企业,121.58,95,2016,3\n"  # latitude out of range
        "f,己,公司企业,121.59,29.90,2017年5月,1.200\n"  # a Chinese date, a grouped headcount
    )
    path = tmp_path / "messy.csv"
    path.write_text(text, encoding="utf-8")
    single = read_establishments(path, datum="gcj02")
    res = read_establishments_dask(path, datum="gcj02", blocksize="200B")
    est, rejected, n_rows = res.establishments, res.rejected, res.n_rows
    assert n_rows == 6
    # issue 19: the impossible date and the negative headcount cost the field, not the firm
    assert rejected["row"].tolist() == single.rejected["row"].tolist() == [4, 5]
    assert rejected["reason"].tolist() == single.rejected["reason"].tolist()
    assert est["id"].tolist() == single.establishments["id"].tolist() == ["a", "b", "c", "f"]
    assert est["opened"].tolist()[::3] == [2015, 2017] and pd.isna(est["opened"].iloc[1])
    assert est["employees"].tolist()[::3] == [10, 1200] and pd.isna(est["employees"].iloc[2])
    np.testing.assert_allclose(
        est.geometry.get_coordinates().to_numpy(),
        single.establishments.geometry.get_coordinates().to_numpy(),
    )


# --- issue 19 item 7: the dask engine reads through the file reader ------------------------


def _bad_file(path: Path, encoding: str) -> None:
    lines = ["编号,名称,经度,纬度,成立日期,从业人员"]
    for i in range(60):
        lines.append(f"F{i},宁波文创{i},{121.5 + i * 1e-3:.5f},{29.8 + i * 1e-3:.5f},2015,{i + 1}")
    lines[5] = "F4,坏,121.5,29.8,2015,3,多余"  # ragged row (7 fields)
    lines[9] = 'F8,"未闭合,121.51,29.81,2015,3'  # a quote that never closes
    lines[20] = "F19,乙,,29.9,2015,3"  # missing longitude
    lines[30] = "F29,丙,121.53,29.83,二〇一五年,约40"  # parsed fields
    lines[40] = "F30,丁,121.54,29.84,2015,3"  # duplicate id (F30 is also on line 32)
    data = ("\n".join(lines) + "\n").encode(encoding)
    if encoding == "utf-8":  # and one stray byte
        data = data.replace("宁波文创50".encode(), "宁波文创50".encode() + b"\xff")
    path.write_bytes(data)


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_dask_engine_reads_bad_files_as_the_file_reader(tmp_path: Path, encoding: str) -> None:
    from clusterscape.study.dask import read_establishments_dask

    path = tmp_path / "bad.csv"
    _bad_file(path, encoding)
    single = read_establishments(path)
    res = read_establishments_dask(path, blocksize="1KB")
    est, rejected, n_rows = res.establishments, res.rejected, res.n_rows
    assert n_rows == single.n_rows == 60
    assert len(rejected) == len(single.rejected) >= 3  # the duplicate id is kept since issue 19
    assert rejected["row"].tolist() == single.rejected["row"].tolist()
    assert rejected["reason"].tolist() == single.rejected["reason"].tolist()
    assert est["id"].tolist() == single.establishments["id"].tolist()
    assert est["name"].tolist() == single.establishments["name"].tolist()
    assert est["opened"].tolist() == single.establishments["opened"].tolist()
    assert est["employees"].tolist() == single.establishments["employees"].tolist()
    reasons = " ".join(rejected["reason"])
    assert "line 6 has 7 fields" in reasons and "line 10 opens a quote" in reasons
    if encoding == "utf-8":
        assert "undecodable text" in reasons


def test_dask_engine_duplicate_ids_across_chunks(tmp_path: Path) -> None:
    from clusterscape.study.dask import read_establishments_dask

    lines = ["id,lon,lat"] + [f"F{i},{121.5 + i * 1e-4:.5f},29.8" for i in range(200)]
    lines[190] = "F3,121.6,29.9"  # F3 again, far below its first use (another chunk)
    path = tmp_path / "dup.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    single = read_establishments(path)
    res = read_establishments_dask(path, blocksize="1KB")
    est, rejected, n_rows = res.establishments, res.rejected, res.n_rows
    assert n_rows == single.n_rows == 200
    # issue 19: a duplicate id costs the id, not the firm (row 190 used to be rejected)
    assert rejected.empty and single.rejected.empty
    assert est["id"].tolist() == single.establishments["id"].tolist()
    assert est["id"].iloc[189] == "F3#190"


# --- issue 19: the distributed read gives read_establishments' LoadResult -------------------


def _parity_files(tmp: Path) -> dict[str, Path]:
    """Bad files of the kinds users send: each defect at a known row."""
    files: dict[str, Path] = {}
    body = [
        f"F{i},宁波文创{i},{121.5 + i * 1e-3:.5f},{29.8 + i * 1e-3:.5f},2015,{i + 1}"
        for i in range(120)
    ]

    def write(
        name: str,
        lines: list[str],
        encoding: str = "utf-8",
        header: str = "编号,名称,经度,纬度,成立日期,从业人员",
    ) -> None:
        p = tmp / name
        p.write_bytes(("\n".join([header, *lines]) + "\n").encode(encoding))
        files[name] = p

    gbk = list(body)
    gbk[7] = "F7,坏,121.5,29.8,2015,3,多余"  # ragged
    gbk[33] = "F33,乙,,29.9,March 2015,约50"  # missing lon, parsed fields
    gbk[50] = "F4,重复,121.55,29.85,二〇一五年三月,1,200"  # duplicate id + ragged (7 fields)
    gbk[51] = "F4,重复,121.55,29.85,1.3.2015,many"  # duplicate id kept, headcount noted
    gbk[90] = "F90,日期,121.56,29.86,3/2015,-4"  # parsed date, negative headcount
    write("gbk.csv", gbk, "gbk")
    stray = list(body)
    stray[12] = 'F12,"多行\n名称",121.5,29.8,2015,3'  # a quoted newline (a legit multi-line value)
    stray[60] = 'F60,"未闭合,121.51,29.81,2015,3'  # a quote that never closes
    write("utf8_stray.csv", stray)
    raw = (
        files["utf8_stray.csv"]
        .read_bytes()
        .replace("宁波文创70".encode(), "宁波文创70".encode() + b"\xff")
    )
    files["utf8_stray.csv"].write_bytes(raw)
    nodup = [f"{121.5 + (i % 7) * 1e-3:.5f},{29.8:.5f},甲{i % 7},1750" for i in range(100)]
    nodup[40] = "abc,29.8,坏,2015"  # non-numeric longitude
    write("exact_dups.csv", nodup, header="经度,纬度,名称,开业年份")
    quoted = [
        f'F{i},"名称, 有逗号 {i}\n第二行",{121.5 + i * 1e-3:.5f},29.8,2015,{i}' for i in range(80)
    ]
    quoted[30] = "F30,短,121.5"  # ragged after multi-line values: the whole file is read exactly
    write("multiline.csv", quoted)
    tail = [*body[:40], ",,,,,", ",,,,,", ",,,,,"]  # trailing blank lines (ignored), one inside
    tail[20] = ",,,,,"
    write("tail.csv", tail)
    return files


@pytest.mark.parametrize("blocksize", ["300B", "2KB", "64MB"])
def test_dask_read_equals_read_establishments_on_bad_files(tmp_path: Path, blocksize: str) -> None:
    from clusterscape.study.dask import read_establishments_dask

    for name, path in _parity_files(tmp_path).items():
        single = read_establishments(path)
        dask_res = read_establishments_dask(path, blocksize=blocksize)
        where = f"{name} @ {blocksize}"
        assert dask_res.n_rows == single.n_rows, where
        assert dask_res.n_rows == len(dask_res.establishments) + len(dask_res.rejected), where
        pd.testing.assert_frame_equal(
            dask_res.rejected.reset_index(drop=True).astype(object),
            single.rejected.reset_index(drop=True).astype(object),
            obj=where,
        )
        pd.testing.assert_frame_equal(
            dask_res.notes.reset_index(drop=True).astype(object),
            single.notes.reset_index(drop=True).astype(object),
            obj=where,
        )
        assert dask_res.duplicates == single.duplicates, where
        assert dask_res.messages == single.messages, where
        for col in ("id", "name", "opened", "closed", "employees"):
            assert dask_res.establishments[col].astype(object).tolist() == (
                single.establishments[col].astype(object).tolist()
            ), (where, col)
        np.testing.assert_array_equal(dask_res.source_rows, single.source_rows)
        if name == "exact_dups.csv":
            assert single.duplicates == 92  # 99 valid rows holding 7 distinct ones
        if name == "gbk.csv":
            assert "F4#52" in single.establishments["id"].tolist()
        if name == "utf8_stray.csv":
            assert any("undecodable" in r for r in single.rejected["reason"])
            assert any("opens a quote" in r for r in single.rejected["reason"])


def test_dask_study_load_carries_notes_and_duplicates(tmp_path: Path) -> None:
    """issue 19: a dask run's notes.csv rows and duplicate count are the file reader's."""
    from clusterscape.study.run import StudyConfig, _load

    path = tmp_path / "firms.csv"
    lines = ["编号,名称,经度,纬度,成立日期,从业人员"]
    lines += [f"F{i},甲{i},{121.5 + i * 1e-3:.4f},29.8,2015,3" for i in range(40)]
    lines[6] = "F4,乙,121.51,29.81,March 2015,约50"  # F4 again (row 6), an approximate headcount
    lines[9] = "F8,丙,121.52,29.82,someday,many"  # two fields left blank and noted
    path.write_text("\n".join(lines) + "\n", encoding="gbk")
    single = read_establishments(path)
    loaded = _load(StudyConfig(establishments=str(path), engine="dask"))
    assert single.notes["row"].tolist() == [6, 6, 9, 9]
    pd.testing.assert_frame_equal(
        loaded["notes"].reset_index(drop=True), single.notes.reset_index(drop=True)
    )
    assert loaded["duplicates"] == single.duplicates
    assert loaded["n_rows"] == single.n_rows == 40
    assert "F4#6" in loaded["establishments"]["id"].tolist()


def test_dask_read_equals_read_establishments_on_mutated_files(tmp_path: Path) -> None:
    """Seeded random damage (quotes, newlines, delimiters, stray bytes, blanks) at small chunk
    sizes: the distributed read gives the file reader's result every time. (Seed 1, trial 27
    once caught an unclosed quote the range alone would have read with the fast reader.)"""
    import random

    import dask

    from clusterscape.errors import InvalidInputError
    from clusterscape.study.dask import read_establishments_dask

    rng = random.Random(1)
    base = ["编号,名称,经度,纬度,成立日期,从业人员"] + [
        f"F{i % 37},名{i},{121.5 + i * 1e-3:.4f},29.8,2015,{i}" for i in range(150)
    ]
    pieces = ['"', "\n", ",", "\xff", ",,,,,", '"a\nb"', "约5", "0", "", 'x"y', "\r\n"]
    path = tmp_path / "damaged.csv"
    with dask.config.set(scheduler="synchronous"):
        for trial in range(30):
            lines = list(base)
            for _ in range(rng.randint(1, 8)):
                k = rng.randrange(1, len(lines))
                p = rng.randrange(len(lines[k]) + 1)
                lines[k] = lines[k][:p] + rng.choice(pieces) + lines[k][p:]
            text = "\n".join(lines) + "\n"
            enc = rng.choice(["utf-8", "gbk"])
            data = text.replace("\xff", "").encode(enc)
            if "\xff" in text:
                data = data.replace("名1".encode(enc), "名1".encode(enc) + b"\xff", 1)
            path.write_bytes(data)
            blocksize = rng.choice(["200B", "500B", "1KB"])
            try:
                single = read_establishments(path)
            except InvalidInputError:
                with pytest.raises(InvalidInputError):
                    read_establishments_dask(path, blocksize=blocksize)
                continue
            res = read_establishments_dask(path, blocksize=blocksize)
            where = f"trial {trial} ({enc}, {blocksize})"
            assert res.n_rows == single.n_rows, where
            assert res.rejected.astype(object).equals(single.rejected.astype(object)), where
            assert (
                res.notes.astype(object)
                .reset_index(drop=True)
                .equals(single.notes.astype(object).reset_index(drop=True))
            ), where
            assert res.duplicates == single.duplicates, where
            assert res.messages == single.messages, where
            assert res.establishments["id"].astype(object).tolist() == (
                single.establishments["id"].astype(object).tolist()
            ), where
