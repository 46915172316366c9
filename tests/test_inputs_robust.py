"""Inputs that hold up (issue 19): nothing good lost silently, nothing garbled.

Each test builds the bad file a user would have and states the exact expected outcome; every
one of them failed on the reader before issue 19 (silent loss, code-page guess, first layer,
rejected firms, whole-file failures).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from clusterscape.errors import InvalidInputError
from clusterscape.io.establishments import read_establishments


def _rows(n: int, start: int = 0) -> list[str]:
    return [
        f"F{i},宁波文创{i},{121.5 + i * 1e-4:.6f},{29.8 + i * 1e-4:.6f}" for i in range(start, n)
    ]


def _invariant(res) -> None:
    assert res.n_rows == len(res.establishments) + len(res.rejected)


# 1 -- silent loss --------------------------------------------------------------------------


@pytest.mark.parametrize("closing", [False, True], ids=["never-closed", "closed-far-below"])
def test_unclosed_quote_rejects_one_line_not_the_rest(tmp_path: Path, closing: bool) -> None:
    rows = _rows(1000)
    rows[3] = 'F3,"宁波文创3,121.500300,29.800300'  # the quote opens and never closes on line 5
    if closing:
        rows[900] = 'F900,宁波文创900",121.590000,29.890000'  # a stray quote 896 lines below
    p = tmp_path / "quote.csv"
    p.write_text("id,name,lon,lat\n" + "\n".join(rows) + "\n", encoding="utf-8")
    res = read_establishments(p)
    _invariant(res)
    assert res.n_rows == 1000
    assert res.rejected["row"].tolist() == [4]
    assert "line 5 opens a quote" in res.rejected["reason"].iloc[0]
    assert len(res.establishments) == 999
    assert "F999" in set(res.establishments["id"])


def test_legit_multiline_value_is_kept(tmp_path: Path) -> None:
    p = tmp_path / "addr.csv"
    p.write_text(
        'id,name,lon,lat\nA,"江北区\n老外滩 1 号",121.55,29.88\nB,乙,121.56,29.89\n',
        encoding="utf-8",
    )
    res = read_establishments(p)
    assert res.rejected.empty and res.establishments["name"].iloc[0] == "江北区\n老外滩 1 号"


# 2 -- garbled text ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_stray_byte_rejects_its_row_and_names_the_offset(tmp_path: Path, encoding: str) -> None:
    rows = _rows(200)
    head = ("id,name,lon,lat\n" + "\n".join(rows[:50]) + "\n").encode(encoding)
    bad = f"F50,坏{chr(0x5B57)}".encode(encoding) + b"\xff" + ",121.55,29.88\n".encode(encoding)
    tail = ("\n".join(rows[51:]) + "\n").encode(encoding)
    p = tmp_path / "stray.csv"
    p.write_bytes(head + bad + tail)
    res = read_establishments(p)
    _invariant(res)
    assert res.rejected["row"].tolist() == [51]
    offset = len(head) + len(f"F50,坏{chr(0x5B57)}".encode(encoding))
    reason = res.rejected["reason"].iloc[0]
    assert reason.startswith("undecodable text: line 52, ") and f"byte offset {offset}" in reason
    names = res.establishments["name"].tolist()
    assert names[0] == "宁波文创0" and names[-1] == "宁波文创199"  # no code-page garbling
    assert len(names) == 199


def test_utf16_without_bom_is_detected(tmp_path: Path) -> None:
    p = tmp_path / "u16.txt"
    p.write_bytes(("id,name,lon,lat\n" + "\n".join(_rows(5)) + "\n").encode("utf-16-le"))
    res = read_establishments(p)
    assert len(res.establishments) == 5 and res.establishments["name"].iloc[4] == "宁波文创4"
    assert any("UTF-16-LE" in m for m in res.messages)


def test_binary_file_is_named_not_guessed(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_bytes(b"PK\x03\x04\x00\x00" + bytes(range(256)) * 4)
    with pytest.raises(InvalidInputError, match="NUL bytes"):
        read_establishments(p)


# 3 -- wrong layer or sheet -------------------------------------------------------------------


def _points(n: int = 5) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [f"P{i}" for i in range(n)], "name": [f"n{i}" for i in range(n)]},
        geometry=[Point(121.5 + i * 0.01, 29.8) for i in range(n)],
        crs="EPSG:4326",
    )


def test_gpkg_picks_the_point_layer_and_layer_option(tmp_path: Path) -> None:
    p = tmp_path / "two.gpkg"
    gpd.GeoDataFrame({"name": ["海曙区"]}, geometry=[box(121, 29, 122, 30)], crs=4326).to_file(
        p, layer="district"
    )
    _points().to_file(p, layer="firms")
    res = read_establishments(p)
    assert res.establishments["id"].tolist() == [f"P{i}" for i in range(5)]
    assert any("'firms'" in m for m in res.messages)
    district = read_establishments(p, layer="district")
    assert len(district.establishments) == 1
    _points(3).to_file(p, layer="more_firms")
    with pytest.raises(
        InvalidInputError,
        match="'firms' \\(Point\\), 'more_firms' \\(Point\\); several hold points",
    ):
        read_establishments(p)
    assert len(read_establishments(p, layer="more_firms").establishments) == 3
    with pytest.raises(InvalidInputError, match="no layer 'nope'"):
        read_establishments(p, layer="nope")


def test_xlsx_data_on_second_sheet(tmp_path: Path) -> None:
    p = tmp_path / "book.xlsx"
    with pd.ExcelWriter(p) as xl:
        pd.DataFrame({"说明": ["宁波市文创企业名录", "2024"]}).to_excel(
            xl, sheet_name="说明", index=False
        )
        pd.DataFrame({"名称": ["甲", "乙"], "经度": [121.5, 121.6], "纬度": [29.8, 29.9]}).to_excel(
            xl, sheet_name="企业", index=False
        )
    res = read_establishments(p)
    assert res.establishments["name"].tolist() == ["甲", "乙"]
    assert any("'企业'" in m for m in res.messages)
    with pytest.raises(InvalidInputError, match="no coordinate columns"):
        read_establishments(p, sheet="说明")
    assert len(read_establishments(p, sheet=1).establishments) == 2


def test_cli_layer_and_sheet_options(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from clusterscape.cli import app

    p = tmp_path / "two.gpkg"
    _points().to_file(p, layer="a")
    _points(2).to_file(p, layer="b")
    runner = CliRunner()
    bad = runner.invoke(app, ["validate", str(p), "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "--layer" in bad.output
    ok = runner.invoke(app, ["validate", str(p), "--layer", "b", "--out", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert "accepted │ 2" in " ".join(ok.output.split())


# 4 -- a field costs a field, not a firm ----------------------------------------------------


def test_dates_and_headcounts_parsed_or_noted(tmp_path: Path) -> None:
    cases = [  # (opened, employees, expected year, expected headcount)
        ("42064", "50人", 2015, 50.0),  # Excel serial of 2015-03-01
        ("March 2015", "约50", 2015, 50.0),
        ("1.3.2015", '"1,200"', 2015, 1200.0),
        ("3/2015", "many", 2015, None),
        ("二〇一五年三月", "-4", 2015, None),
        ("1750", "12", None, 12.0),
    ]
    text = "id,lon,lat,opened,employees\n" + "".join(
        f"R{i},121.5,29.8,{o},{e}\n" for i, (o, e, _, _) in enumerate(cases)
    )
    p = tmp_path / "fields.csv"
    p.write_text(text, encoding="utf-8")
    res = read_establishments(p)
    assert res.rejected.empty and len(res.establishments) == len(cases)
    est = res.establishments
    assert [None if pd.isna(v) else int(v) for v in est["opened"]] == [c[2] for c in cases]
    assert [None if pd.isna(v) else float(v) for v in est["employees"]] == [c[3] for c in cases]
    notes = res.notes.set_index(["row", "field"])["note"]
    assert notes[(1, "opened")].startswith("read as an Excel date serial (2015-03-01)")
    assert notes[(2, "employees")] == "approximate headcount read as 50"
    assert notes[(4, "employees")] == "not a number; left blank"
    assert notes[(5, "employees")] == "negative headcount; left blank"
    assert notes[(6, "opened")] == "year 1750 is outside 1800-2100; left blank"
    assert list(res.notes.columns) == ["row", "id", "field", "value", "note"]


@pytest.mark.parametrize("boundary", [False, True])
def test_zero_longitude_or_latitude_rejected(tmp_path: Path, boundary: bool) -> None:
    p = tmp_path / "zero.csv"
    p.write_text("id,lon,lat\nA,121.5,29.8\nB,0,29.8\nC,121.5,0\nD,121.6,29.9\n", encoding="utf-8")
    if not boundary:
        res = read_establishments(p)
        assert res.rejected["row"].tolist() == [2, 3]
        assert res.rejected["reason"].str.contains("exactly 0").all()
        return
    from clusterscape.study.run import StudyConfig, _load

    b = tmp_path / "b.geojson"
    gpd.GeoDataFrame(geometry=[box(121, 29, 122, 30)], crs=4326).to_file(b)
    loaded = _load(StudyConfig(establishments=str(p), boundary=str(b)))
    rej = loaded["rejected"]
    assert sorted(rej["row"].tolist()) == [2, 3]
    assert rej["reason"].str.contains("exactly 0").all()


# 5 -- oversized cells, FIFOs, symlink loops ---------------------------------------------------


def test_oversized_cell_rejects_its_row(tmp_path: Path) -> None:
    big = "x" * (3 << 20)  # 3 MiB
    p = tmp_path / "big.csv"
    p.write_text(
        f"id,name,lon,lat\nA,a,121.5,29.8\nB,{big},121.5,29.8\nC,c,121.6,29.9\n", encoding="utf-8"
    )
    res = read_establishments(p)
    assert res.rejected["row"].tolist() == [2]
    assert (
        res.rejected["reason"].iloc[0].startswith("oversized cell: column 'name' holds 3,145,728")
    )
    assert res.establishments["id"].tolist() == ["A", "C"]


@pytest.mark.slow
def test_100mb_cell_rejects_its_row(tmp_path: Path) -> None:
    p = tmp_path / "huge.csv"
    with p.open("w", encoding="utf-8") as fh:
        fh.write("id,name,lon,lat\nA,a,121.5,29.8\nB,")
        fh.write("y" * (100 << 20))
        fh.write(",121.5,29.8\nC,c,121.6,29.9\n")
    res = read_establishments(p)
    assert res.rejected["row"].tolist() == [2] and res.establishments["id"].tolist() == ["A", "C"]


def test_200kb_cell_and_a_ragged_row(tmp_path: Path) -> None:
    cell = "备注" * 100_000  # 200 K characters: long but allowed
    p = tmp_path / "mixed.csv"
    p.write_text(
        f"id,name,lon,lat\nA,{cell},121.5,29.8\nB,b,1,121.5,29.8\nC,c,121.6,29.9\n",
        encoding="utf-8",
    )
    res = read_establishments(p)
    assert res.rejected["row"].tolist() == [2]
    assert res.rejected["reason"].iloc[0].startswith("malformed row: line 3 has 5 fields")
    assert res.establishments["id"].tolist() == ["A", "C"]
    assert len(res.establishments["name"].iloc[0]) == 200_000


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    p = tmp_path / "pipe.csv"
    os.mkfifo(p)
    out: list[BaseException] = []

    def run() -> None:
        try:
            read_establishments(p)
        except BaseException as exc:
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(30)
    if t.is_alive():  # unblock the reader so the test process can end
        with open(p, "w"):
            pass
        pytest.fail("read_establishments blocked on a FIFO")
    assert isinstance(out[0], InvalidInputError) and "named pipe (FIFO)" in str(out[0])


def test_symlink_loop_and_dangling_link(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(InvalidInputError, match="loops"):
        read_establishments(a)
    d = tmp_path / "d.csv"
    d.symlink_to(tmp_path / "gone.csv")
    with pytest.raises(
        InvalidInputError, match=r"symbolic link to .*gone\.csv, which does not exist"
    ):
        read_establishments(d)


# 6 -- duplicates, duplicate headers, Shapefile parts ------------------------------------------


def test_exact_duplicate_rows_without_id_are_counted_and_noted(tmp_path: Path) -> None:
    p = tmp_path / "dups.csv"
    p.write_text(
        "name,lon,lat\n甲,121.5,29.8\n乙,121.6,29.9\n甲,121.5,29.8\n甲,121.5,29.81\n甲,121.5,29.8\n",
        encoding="utf-8",
    )
    res = read_establishments(p)
    assert len(res.establishments) == 5 and res.rejected.empty  # kept
    assert res.duplicates == 2
    dup = res.notes[res.notes["field"] == "row"]
    assert dup["row"].tolist() == [3, 5]
    assert dup["note"].str.startswith("exact duplicate of row 1").all()


def test_duplicate_headers_refused_in_csv_and_excel_alike(tmp_path: Path) -> None:
    c = tmp_path / "d.csv"
    c.write_text("name,lon,lat,name\na,121.5,29.8,b\n", encoding="utf-8")
    x = tmp_path / "d.xlsx"
    pd.DataFrame([["a", 121.5, 29.8, "b"]]).to_excel(
        x, index=False, header=["name", "lon", "lat", "x"]
    )
    # rewrite the 4th header to repeat 'name' (pandas itself would refuse to write it)
    import openpyxl

    wb = openpyxl.load_workbook(x)
    wb.active.cell(row=1, column=4).value = "name"
    wb.save(x)
    for p in (c, x):
        with pytest.raises(InvalidInputError, match=r"duplicate column names \['name'\]"):
            read_establishments(p)


def test_shapefile_without_dbf_says_so(tmp_path: Path) -> None:
    p = tmp_path / "firms.shp"
    _points().to_file(p)
    (tmp_path / "firms.dbf").unlink()
    res = read_establishments(p)
    assert len(res.establishments) == 5
    assert any("no firms.dbf" in m for m in res.messages)
    (tmp_path / "firms.shx").unlink()
    with pytest.raises(InvalidInputError, match=r"no firms\.shx"):
        read_establishments(p)


# the invariant, on arbitrary bytes ------------------------------------------------------------


_HEADERS = [b"", b"id,name,lon,lat\n", b"\xef\xbb\xbf\xe7\xbc\x96\xe5\x8f\xb7,lon,lat\n"]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    head=st.sampled_from(_HEADERS),
    body=st.one_of(
        st.binary(max_size=400),
        st.lists(
            st.sampled_from(
                [
                    b"A,a,121.5,29.8\n",
                    b'"',
                    b",",
                    b"\n",
                    b"\r\n",
                    b"\xff",
                    b"\xc4\xfe",
                    b"0",
                    b"\x00",
                    b'B,"x\ny",121.6,29.9\n',
                    b"C,c,1,2,3\n",
                    b" ",
                    b"\t",
                    b";",
                ]
            ),
            max_size=40,
        ).map(b"".join),
    ),
)
def test_fuzz_reader_only_raises_invalid_input(tmp_path_factory, head: bytes, body: bytes) -> None:
    p = tmp_path_factory.mktemp("fuzz") / "f.csv"
    p.write_bytes(head + body)
    try:
        res = read_establishments(p)
    except InvalidInputError:
        return
    _invariant(res)
    assert len(res.establishments) == len(res.source_rows)
    rows = set(res.rejected["row"].tolist()) | set(res.source_rows.tolist())
    assert rows == set(range(1, res.n_rows + 1))  # each record accounted for exactly once


def test_progress_is_reported_while_parsing(tmp_path: Path) -> None:
    p = tmp_path / "p.csv"
    p.write_text("id,lon,lat\n" + "".join(f"R{i},121.5,29.8\n" for i in range(1000)), "utf-8")
    seen: list[tuple[str, int, int]] = []
    res = read_establishments(
        p, progress=lambda stage, done, total: seen.append((stage, done, total))
    )
    assert len(res.establishments) == 1000
    parsing = [s for s in seen if s[0] == "parsing"]
    assert parsing and 0 < parsing[-1][1] <= parsing[-1][2] == p.stat().st_size
    assert seen[-1] == ("validating", 1000, 1000)


def test_classic_mac_line_ends_wide_x_columns_and_a_stray_nul(tmp_path: Path) -> None:
    cr = tmp_path / "cr.csv"
    cr.write_bytes(b"id,lon,lat\rA,121.5,29.8\rB,121.6,29.9\r")
    res = read_establishments(cr)
    assert res.establishments["id"].tolist() == ["A", "B"] and "CR only" in res.messages[0]
    # a data row of many 'x' values (an alias of lon) is not taken for the header
    wide = tmp_path / "wide.csv"
    wide.write_text(
        ",".join(["lon", "lat", *[f"c{i}" for i in range(50)]])
        + "\n"
        + ",".join(["121.5", "29.8", *["x"] * 50])
        + "\n",
        encoding="utf-8",
    )
    assert len(read_establishments(wide).establishments) == 1
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"id,name,lon,lat\nA,a,121.5,29.8\nB,b,121.6,29.9\x00\n")
    res = read_establishments(nul)  # one NUL is a damaged row, not a binary file
    assert res.establishments["id"].tolist() == ["A"]
    assert res.rejected["reason"].iloc[0].startswith("non-numeric coordinates: latitude")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_boundary_fifo_is_refused(tmp_path: Path) -> None:
    from clusterscape.io.layers import read_boundary

    p = tmp_path / "b.geojson"
    os.mkfifo(p)
    with pytest.raises(InvalidInputError, match=r"boundary file: .*named pipe \(FIFO\)"):
        read_boundary(p)
