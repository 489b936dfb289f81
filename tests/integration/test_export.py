"""The BI export in long form (docs/design.md §5.7) as a BI tool reads it:
Python's csv module (pandas is not installed; the point is that no
reshaping is needed), every value a number, and every measure's nation rows
summing to its total row and to the JSON document's totals.

The golden exports (tests/data/export, made by test_export.c) are checked
without a broker; the live test runs the pipeline and reads the exports
the dashboard serves next to the documents it serves."""
import csv
import io
import json
import os
import time
import urllib.error
import urllib.request
from collections import defaultdict
from decimal import Decimal

import pytest

from conftest import ROOT
from tecgpy import events
from tecgpy.model import Model
from test_pipeline import crafted, feed, http_port, start_dashboard, wait_documents

NAMES = ("funding", "staffing", "training")
DIMS = {"funding": ["channel", "category", "stage"],
        "staffing": ["role", "location"],
        "training": ["year", "location", "level"]}
BOM = b"\xef\xbb\xbf"


def columns(name):
    return (["dashboard", "version", "as_of", "nation"] + DIMS[name] + ["measure", "value"]
            + (["currency"] if name == "funding" else []))


def load_long(name, data):
    """The rows of a long CSV (bytes), checked for shape: the fixed header,
    every row complete, every value a finite number."""
    assert not data.startswith(BOM), "no BOM unless asked for"
    text = data.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), "CRLF lines"
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert reader.fieldnames == columns(name)
    rows = list(reader)
    assert rows, f"{name}: no rows"
    for r in rows:
        assert None not in r and None not in r.values(), f"ragged row {r}"
        assert r["dashboard"] == name and r["measure"]
        v = Decimal(r["value"])
        assert v.is_finite(), r
        float(r["value"])
        int(r["version"])
    return rows


def key_of(name, r):
    return (r["measure"],) + tuple(r[d] for d in DIMS[name]) + (r.get("currency", ""),)


def check_sums(name, rows):
    """For every measure a nation has, the nation rows of each (dimensions,
    currency) sum to the total row (nation empty) of the same key. The
    `_converted` figures are rounded once per currency in each row (§5.2),
    so theirs may differ by half a cent per currency and row."""
    totals, sums, counts = {}, defaultdict(Decimal), defaultdict(int)
    for r in rows:
        k = key_of(name, r)
        if r["nation"]:
            sums[k] += Decimal(r["value"])
            counts[k] += 1
        else:
            assert k not in totals, f"{name}: two total rows for {k}"
            totals[k] = Decimal(r["value"])
    currencies = {r.get("currency") for r in rows if r.get("currency")}
    # A measure nations have is checked on every key, also those where no
    # nation has a row (their total must then be 0).
    by_nation = {k[0] for k in sums}
    checked = 0
    for k in set(sums) | {k for k in totals if k[0] in by_nation}:
        s, total = sums[k], totals.get(k, Decimal(0))
        if k[0].endswith("_converted"):
            slack = Decimal("0.005") * counts[k] * max(1, len(currencies))
            assert abs(s - total) <= slack, f"{name}: {k} nations sum to {s}, total {total}"
        else:
            assert s == total, f"{name}: {k} nations sum to {s}, total {total}"
        checked += 1
    assert checked, f"{name}: no measure with nation rows"


def pick(rows, measure, nation="", **dims):
    got = [r for r in rows if r["measure"] == measure and r["nation"] == nation
           and all(r[d] == v for d, v in dims.items())]
    assert len(got) == 1, f"{measure} {nation} {dims}: {len(got)} rows"
    return Decimal(got[0]["value"])


def nation_sum(rows, measure, **dims):
    return sum((Decimal(r["value"]) for r in rows if r["measure"] == measure and r["nation"]
                and all(r[d] == v for d, v in dims.items())), Decimal(0))


def check_against_document(name, rows, doc):
    """The long rows against the JSON document they come from."""
    assert {r["version"] for r in rows} == {str(doc["version"])}
    assert {r["as_of"] for r in rows} == {doc["as_of"] or ""}
    nations = {n["nation"] for n in doc["nations"]}
    assert {r["nation"] for r in rows} - {""} <= nations
    if name == "funding":
        rep = doc["reporting_currency"]
        for what in ("pledged", "disbursed"):
            block = doc["total"][what]
            for cur, amount in block["by_currency"].items():
                assert pick(rows, what, currency=cur) == Decimal(amount)
                assert nation_sum(rows, what, currency=cur) == Decimal(amount)
            assert pick(rows, f"{what}_converted", currency=rep) == Decimal(block["converted"])
            for ch, b in doc["total"]["channels"].items():
                for cur, amount in b[what]["by_currency"].items():
                    assert pick(rows, f"{what}_by_channel", channel=ch,
                                currency=cur) == Decimal(amount)
        for stage, s in doc["total"]["equipment"]["stages"].items():
            assert pick(rows, "equipment_quantity", stage=stage) == s["quantity"]
            assert nation_sum(rows, "equipment_quantity", stage=stage) == s["quantity"]
        assert pick(rows, "reported") == doc["total"]["nations_reported"]
        for cur, rate in doc["rates"].items():
            assert pick(rows, "exchange_rate", currency=cur) == Decimal(rate)
    elif name == "staffing":
        t = doc["total"]
        assert pick(rows, "headcount", location="IN_IRAQ") == t["in_iraq"]
        assert nation_sum(rows, "headcount", location="IN_IRAQ") == t["in_iraq"]
        assert pick(rows, "headcount", location="OUTSIDE_IRAQ") == t["outside_iraq"]
        assert nation_sum(rows, "headcount_total") == t["total"]
        for role, locs in t["roles"].items():
            for loc, n in locs.items():
                assert nation_sum(rows, "headcount_by_role", role=role, location=loc) == n
        assert pick(rows, "authorized_strength") == t["authorized_strength"]
        assert pick(rows, "shortfall") == t["shortfall"]
        if t["fill_rate"] is not None:
            assert pick(rows, "fill_rate") == Decimal(str(t["fill_rate"]))
        assert pick(rows, "reported") == t["nations_reported"]
    else:
        for loc, target in doc["targets"].items():
            assert pick(rows, "target", location=loc.upper(), year="") == target
        for y in doc["years"]:
            year = str(y["year"])
            assert pick(rows, "trainees", year=year) == y["trainees"]
            assert nation_sum(rows, "trainees", year=year) == y["trainees"]
            for loc in ("in_iraq", "outside_iraq"):
                assert nation_sum(rows, "trainees_by_location", year=year,
                                  location=loc.upper()) == y[loc]["trainees"]
                for lvl, n in y[loc]["levels"].items():
                    assert nation_sum(rows, "trainees_by_level", year=year,
                                      location=loc.upper(), level=lvl) == n


def load_ndjson(data):
    lines = data.decode("utf-8").splitlines()
    return [json.loads(line, parse_float=Decimal) for line in lines]


def same_rows(name, csv_rows, nd_rows):
    """NDJSON: the CSV's rows, columns and numbers, empty columns null."""
    assert len(nd_rows) == len(csv_rows)
    for c, n in zip(csv_rows, nd_rows):
        assert list(n) == columns(name)
        for col in columns(name):
            if col in ("value", "version"):
                assert Decimal(str(n[col])) == Decimal(c[col])
            elif col == "year" and n[col] is not None:
                assert isinstance(n[col], int) and str(n[col]) == c[col]
            else:
                assert (n[col] or "") == c[col], (col, n, c)


@pytest.mark.parametrize("name", NAMES)
def test_golden_long_exports_load_and_sum(name):
    base = os.path.join(ROOT, "tests", "data", "export", name)
    with open(base + ".json") as f:
        doc = json.load(f)
    with open(base + ".csv", "rb") as f:
        rows = load_long(name, f.read())
    check_sums(name, rows)
    check_against_document(name, rows, doc)
    with open(base + ".ndjson", "rb") as f:
        same_rows(name, rows, load_ndjson(f.read()))


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, dict(r.headers), r.read()


def test_served_long_exports_match_the_documents(producer_factory, daemon_factory, bootstrap,
                                                 prefix):
    nations = ["FRA", "DEU", "USA"]
    producers = {n: producer_factory(n).start() for n in nations}
    daemon_factory("aggregator", batch__max__ms=50).start()
    dashboard = start_dashboard(daemon_factory)
    model = Model()
    evs = {n: crafted(n) + events.generate(n, 120, seed=len(n) + 3, id_prefix=f"{n}-x")
           for n in nations}
    feed(producers, model, evs, "export")
    port = http_port(dashboard)
    wait_documents(port, model)
    base = f"http://127.0.0.1:{port}/api/"

    for name in NAMES:
        # Nothing new arrives any more: the export and the document are of
        # one version (checked, not assumed).
        _, _, raw = fetch(base + f"dashboards/{name}")
        doc = json.loads(raw)
        status, headers, data = fetch(base + f"export/{name}.csv")
        assert status == 200 and headers["Content-Type"].startswith("text/csv")
        assert headers["ETag"] == f'"{doc["version"]}"'
        rows = load_long(name, data)
        check_sums(name, rows)
        check_against_document(name, rows, doc)
        assert {r["nation"] for r in rows} >= set(nations)

        _, _, bom = fetch(base + f"export/{name}.csv?bom=1")
        assert bom == BOM + data
        # Excel's reading: utf-8-sig drops the mark, the rows are the same.
        assert list(csv.DictReader(io.StringIO(bom.decode("utf-8-sig"), newline=""))) == rows

        _, headers, nd = fetch(base + f"export/{name}.ndjson")
        assert headers["Content-Type"] == "application/x-ndjson"
        same_rows(name, rows, load_ndjson(nd))

        _, _, wide = fetch(base + f"export/{name}.wide.csv")
        assert wide.startswith(b"dashboard,version,as_of,table,")

        with pytest.raises(urllib.error.HTTPError) as e:
            fetch(base + f"export/{name}.ndjson?bom=1")
        assert e.value.code == 400
    for p in producers.values():
        assert p.stop() == 0
