"""The dashboard documents against their JSON Schemas (no broker needed).

The golden documents written by tests/unit/consumers/dashboard/test_compose.c
(tests/data/compose/{funding,staffing,training,history}.json), completed with the
"version" and "generated_at" keys tecg-dashboard adds, must validate against
schemas/dashboard-*.schema.json (Draft 2020-12, formats checked); broken
variants of them must not, so the schemas are known to be strict rather than
vacuous. A few cross-checks the schemas cannot express (sort order, totals
equal to the sum of rows) run on the same documents."""
import copy
import json
import os

import jsonschema
import pytest

ROOT = os.environ.get("TECG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDEN = os.path.join(ROOT, "tests", "data", "compose")
SCHEMAS = os.path.join(ROOT, "schemas")
NAMES = ("funding", "staffing", "training")
# The documents of nations rows; history is a series of months.
ALL_NAMES = NAMES + ("history",)

Validator = jsonschema.Draft202012Validator


def load_schema(name):
    with open(os.path.join(SCHEMAS, f"dashboard-{name}.schema.json"), encoding="utf-8") as f:
        return json.load(f)


def validator(name):
    return Validator(load_schema(name), format_checker=Validator.FORMAT_CHECKER)


def published(name, version=3, generated_at="2005-12-01T09:00:05.123Z"):
    """The golden document as tecg-dashboard publishes it."""
    with open(os.path.join(GOLDEN, f"{name}.json"), encoding="utf-8") as f:
        doc = json.load(f)
    doc["version"] = version
    doc["generated_at"] = generated_at
    return doc


def errors(name, doc):
    return sorted(validator(name).iter_errors(doc), key=lambda e: list(e.path))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_schema_is_valid_draft_2020_12(name):
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Validator.check_schema(schema)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_golden_document_validates(name):
    doc = published(name)
    assert doc["dashboard"] == name
    errs = errors(name, doc)
    assert not errs, "\n".join(f"{list(e.path)}: {e.message}" for e in errs)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_without_daemon_keys_is_rejected(name):
    """Composed output alone lacks version/generated_at: the published
    document must carry them."""
    doc = published(name)
    del doc["version"]
    del doc["generated_at"]
    messages = [e.message for e in errors(name, doc)]
    assert any("'version' is a required property" in m for m in messages)
    assert any("'generated_at' is a required property" in m for m in messages)


def row(doc, code, year=None):
    for r in doc["nations"]:
        if r["nation"] == code and (year is None or r["year"] == year):
            return r
    raise KeyError(code)


def year(doc, y):
    return next(r for r in doc["years"] if r["year"] == y)


def setp(path, value):
    """A mutation that sets doc[path...] = value."""
    def mutate(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def delp(path):
    def mutate(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


def on_row(code, fn, yr=None):
    def mutate(doc):
        fn(row(doc, code, yr))
    return mutate


def on_year(y, fn):
    def mutate(doc):
        fn(year(doc, y))
    return mutate


def on_month(m, fn):
    def mutate(doc):
        fn(next(x for x in doc["months"] if x["month"] == m))
    return mutate


def on_correction(i, fn):
    def mutate(doc):
        fn(doc["recent_corrections"][i])
    return mutate


# (dashboard, what is broken, mutation)
BROKEN = [
    # common keys
    ("funding", "version 0", setp(["version"], 0)),
    ("funding", "version as a string", setp(["version"], "3")),
    ("staffing", "generated_at not a time", setp(["generated_at"], "yesterday")),
    ("training", "generated_at without offset", setp(["generated_at"], "2005-12-01T09:00:05")),
    ("funding", "wrong dashboard name", setp(["dashboard"], "staffing")),
    ("staffing", "as_of with an offset, not UTC", setp(["as_of"], "2005-12-01T12:00:00+03:00")),
    ("training", "as_of a number", setp(["as_of"], 1133427600000)),
    ("funding", "unknown top-level key", setp(["comment"], "hello")),
    ("staffing", "missing not_reported", delp(["not_reported"])),
    ("training", "not_reported with a lower-case code", setp(["not_reported"], ["bel"])),
    ("funding", "not_reported with a duplicate", setp(["not_reported"], ["BEL", "BEL"])),
    # funding
    ("funding", "money as a JSON number", setp(["total", "pledged", "converted"], 5104950.0)),
    ("funding", "decimal with thousands separators",
     setp(["total", "pledged", "converted"], "5,104,950.00")),
    ("funding", "decimal with an exponent", setp(["total", "disbursed", "converted"], "1e6")),
    ("funding", "decimal with a trailing point",
     setp(["total", "pledged", "by_currency", "USD"], "3000000.")),
    ("funding", "lower-case currency key",
     setp(["total", "pledged", "by_currency", "usd"], "1.00")),
    ("funding", "currency key of 4 letters",
     setp(["total", "pledged", "by_currency", "EURO"], "1.00")),
    ("funding", "missing_rates not a list", setp(["total", "pledged", "missing_rates"], "UAH")),
    ("funding", "money block without converted", delp(["total", "pledged", "converted"])),
    ("funding", "money block with an extra key", setp(["total", "pledged", "note"], "x")),
    ("funding", "negative rate", setp(["rates", "USD"], "-0.8042")),
    ("funding", "rate with 10 decimals", setp(["rates", "USD"], "0.8042000001")),
    ("funding", "reporting currency lower case", setp(["reporting_currency"], "eur")),
    ("funding", "channel missing", delp(["total", "channels", "BILATERAL"])),
    ("funding", "unknown channel", setp(["total", "channels", "LOAN"],
                                        {"pledged": None, "disbursed": None})),
    ("funding", "unknown equipment stage",
     setp(["total", "equipment", "stages", "LOST"], {"quantity": 0})),
    ("funding", "negative equipment quantity",
     setp(["total", "equipment", "stages", "OFFERED", "quantity"], -1)),
    ("funding", "category missing", delp(["total", "equipment", "categories", "OTHER"])),
    ("funding", "total without nations_reported", delp(["total", "nations_reported"])),
    ("funding", "total with a row key", setp(["total", "nation"], "USA")),
    ("funding", "row with an unknown status", on_row("USA", lambda r: r.update(status="observer"))),
    ("funding", "row with a 2-letter code", on_row("USA", lambda r: r.update(nation="US"))),
    ("funding", "row without reported", on_row("USA", lambda r: r.pop("reported"))),
    ("funding", "row with an extra key", on_row("USA", lambda r: r.update(rank=1))),
    ("funding", "row with an empty name", on_row("USA", lambda r: r.update(name=""))),
    ("funding", "row reported as a string", on_row("USA", lambda r: r.update(reported="yes"))),
    # staffing
    ("staffing", "fill_rate as a string", setp(["total", "fill_rate"], "0.8333")),
    ("staffing", "negative fill_rate", setp(["total", "fill_rate"], -0.1)),
    ("staffing", "negative shortfall", setp(["total", "shortfall"], -20)),
    ("staffing", "authorized strength missing", delp(["total", "authorized_strength"])),
    ("staffing", "headcount as a float", setp(["total", "in_iraq"], 300.5)),
    ("staffing", "negative headcount",
     on_row("GBR", lambda r: r["roles"]["MENTOR"].update(IN_IRAQ=-1))),
    ("staffing", "unknown role",
     on_row("GBR", lambda r: r["roles"].update(PILOT={"IN_IRAQ": 1, "OUTSIDE_IRAQ": 0}))),
    ("staffing", "unknown location",
     on_row("GBR", lambda r: r["roles"]["MENTOR"].update(AFLOAT=1))),
    ("staffing", "role missing", on_row("GBR", lambda r: r["roles"].pop("SUPPORT"))),
    ("staffing", "row without last_report", on_row("GBR", lambda r: r.pop("last_report"))),
    ("staffing", "row with mission keys", on_row("GBR", lambda r: r.update(shortfall=0))),
    # training
    ("training", "year beyond 9999", on_year(2005, lambda y: y.update(year=10000))),
    ("training", "year as a string", on_year(2005, lambda y: y.update(year="2005"))),
    ("training", "negative progress",
     on_year(2005, lambda y: y["in_iraq"].update(progress=-0.1))),
    ("training", "progress as a string",
     on_year(2005, lambda y: y["in_iraq"].update(progress="40%"))),
    ("training", "level missing",
     on_year(2005, lambda y: y["outside_iraq"]["levels"].pop("SENIOR"))),
    ("training", "unknown level",
     on_year(2005, lambda y: y["outside_iraq"]["levels"].update(GENERAL=1))),
    ("training", "year row with an extra key", on_year(2005, lambda y: y.update(note="x"))),
    ("training", "fractional trainees", on_year(2005, lambda y: y.update(trainees=1.5))),
    ("training", "target missing", on_year(2005, lambda y: y["in_iraq"].pop("target"))),
    ("training", "nation row with a target",
     on_row("NOR", lambda r: r["outside_iraq"].update(target=500), 2005)),
    ("training", "nation row without year", on_row("NOR", lambda r: r.pop("year"), 2005)),
    ("training", "targets with an extra key", setp(["targets", "total"], 1500)),
    # corrections (docs/design.md §2.9, §5.2)
    ("funding", "negative retractions",
     on_row("GBR", lambda r: r["corrections"].update(retractions=-1))),
    ("training", "corrections without supersessions",
     on_row("USA", lambda r: r["corrections"].pop("supersessions"), 2005)),
    ("staffing", "corrections with an extra key",
     on_row("GBR", lambda r: r["corrections"].update(edits=1))),
    ("funding", "unknown correction kind", on_correction(0, lambda c: c.update(kind="undo"))),
    ("funding", "retraction without reason", on_correction(1, lambda c: c.update(reason=None))),
    ("funding", "supersession with a reason", on_correction(0, lambda c: c.update(reason="x"))),
    ("funding", "retraction with an after", on_correction(1, lambda c: c.update(after="x"))),
    ("funding", "correction of a retraction type",
     on_correction(0, lambda c: c.update(type="retraction"))),
    ("funding", "correction with a bad event_id",
     on_correction(0, lambda c: c.update(event_id="gbr 0050"))),
    ("training", "correction without target_id", on_correction(0, lambda c: c.pop("target_id"))),
    ("funding", "more than 20 recent corrections",
     lambda d: d.update(recent_corrections=d["recent_corrections"] * 11)),
    ("staffing", "dead letters without count",
     on_row("GBR", lambda r: r["dead_letters"].pop("count"))),
    ("staffing", "dead letter without stage",
     on_row("GBR", lambda r: r["dead_letters"]["recent"][0].pop("stage"))),
    ("staffing", "dead letter at not a time",
     on_row("GBR", lambda r: r["dead_letters"]["recent"][0].update(at="yesterday"))),
    # history (docs/design.md §5.9)
    ("history", "month without its day-less form", on_month("2005-03",
                                                            lambda m: m.update(month="2005-3"))),
    ("history", "month 13", on_month("2005-03", lambda m: m.update(month="2005-13"))),
    ("history", "negative strength", on_month("2005-03", lambda m: m.update(strength_in_iraq=-1))),
    ("history", "money as a number",
     on_month("2005-03", lambda m: m.update(pledged_cumulative=804200.0))),
    ("history", "month without dead_letters", on_month("2005-03", lambda m: m.pop("dead_letters"))),
    ("history", "month with an extra key", on_month("2005-03", lambda m: m.update(note="x"))),
    ("history", "currency lower case", setp(["currency"], "eur")),
    ("history", "missing months", delp(["months"])),
    ("history", "missing targets", delp(["targets"])),
    ("history", "wrong dashboard name", setp(["dashboard"], "training")),
]


@pytest.mark.parametrize("name,what,mutate", BROKEN, ids=[f"{n}: {w}" for n, w, _ in BROKEN])
def test_broken_variant_is_rejected(name, what, mutate):
    doc = published(name)
    mutate(doc)
    assert errors(name, doc), f"the {name} schema accepts a document with {what}"


def test_date_time_format_is_checked():
    """A string that matches the date-time pattern but is no date: only the
    format checker catches it (needs rfc3339-validator)."""
    assert "date-time" in Validator.FORMAT_CHECKER.checkers, \
        "jsonschema has no date-time checker: scripts/install-deps installs rfc3339-validator"
    doc = published("staffing", generated_at="2005-13-45T25:61:00Z")
    assert errors("staffing", doc)


# Documents that must stay valid: the edge values compose.c can produce.
VALID_VARIANTS = [
    ("funding", "nothing reported yet", setp(["as_of"], None)),
    ("staffing", "no authorized strength", setp(["total", "fill_rate"], None)),
    ("staffing", "over strength", setp(["total", "fill_rate"], 1.25)),
    ("training", "no target", on_year(2005, lambda y: y["in_iraq"].update(progress=None))),
    ("training", "no training at all",
     lambda d: d.update(years=[], nations=[], as_of=None)),
    ("funding", "negative amount", setp(["total", "pledged", "converted"], "-0.05")),
    ("funding", "an unlisted nation", on_row("JPN", lambda r: r.update(name=None))),
    ("staffing", "generated_at with an offset",
     setp(["generated_at"], "2005-12-01T12:00:05+03:00")),
    ("history", "no data yet", lambda d: d.update(months=[], as_of=None)),
    ("funding", "no corrections yet", setp(["recent_corrections"], [])),
    ("funding", "a correction whose target has not arrived",
     on_correction(0, lambda c: c.update(before=""))),
]


@pytest.mark.parametrize("name,what,mutate", VALID_VARIANTS,
                         ids=[f"{n}: {w}" for n, w, _ in VALID_VARIANTS])
def test_valid_variant_is_accepted(name, what, mutate):
    doc = published(name)
    mutate(doc)
    errs = errors(name, doc)
    assert not errs, f"{what}: " + "; ".join(e.message for e in errs)


# Cross-checks beyond the schemas ------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_rows_sorted_and_not_reported_consistent(name):
    doc = published(name)
    keys = [(r.get("year", 0), r["nation"]) for r in doc["nations"]]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert doc["not_reported"] == sorted(doc["not_reported"])
    if name != "training":
        by_code = {r["nation"]: r for r in doc["nations"]}
        for code in doc["not_reported"]:
            assert by_code[code]["reported"] is False
            assert by_code[code]["status"] != "unlisted"
        assert doc["total"]["nations_reported"] == sum(r["reported"] for r in doc["nations"])


def test_staffing_totals_are_sums_of_rows():
    doc = published("staffing")
    total = doc["total"]
    for key in ("in_iraq", "outside_iraq", "total"):
        assert total[key] == sum(r[key] for r in doc["nations"])
    for role, locs in total["roles"].items():
        for loc, n in locs.items():
            assert n == sum(r["roles"][role][loc] for r in doc["nations"])
    assert total["in_iraq"] + total["outside_iraq"] == total["total"]
    assert total["shortfall"] == max(0, total["authorized_strength"] - total["in_iraq"])
    assert total["fill_rate"] == round(total["in_iraq"] / total["authorized_strength"], 4)


def test_training_years_are_sums_of_rows():
    doc = published("training")
    for y in doc["years"]:
        rows = [r for r in doc["nations"] if r["year"] == y["year"]]
        assert y["nations_providing"] == len(rows)
        assert y["trainees"] == sum(r["trainees"] for r in rows)
        for loc in ("in_iraq", "outside_iraq"):
            assert y[loc]["trainees"] == sum(r[loc]["trainees"] for r in rows)
            assert y[loc]["target"] == doc["targets"][loc]
            for lvl, n in y[loc]["levels"].items():
                assert n == sum(r[loc]["levels"][lvl] for r in rows)


def test_funding_by_currency_totals_are_sums_of_rows():
    """Exact decimal sums per currency (money stays strings end to end)."""
    from decimal import Decimal
    doc = published("funding")
    for stage in ("pledged", "disbursed"):
        want = {}
        for r in doc["nations"]:
            for cur, amount in r[stage]["by_currency"].items():
                want[cur] = want.get(cur, Decimal(0)) + Decimal(amount)
        got = {c: Decimal(a) for c, a in doc["total"][stage]["by_currency"].items()}
        assert got == want
    assert set(doc["missing_rates"]).isdisjoint(doc["rates"])


# --- Overdue nations and anomalies (docs/design.md §5.8) ----------------

DOC_TYPES = {"funding": ["FUNDING", "EQUIPMENT"], "staffing": ["PERSONNEL"],
             "training": ["TRAINING"]}


@pytest.mark.parametrize("name", NAMES)
def test_reporting_block_is_consistent(name):
    """Every row of the document has its reporting row; 'overdue' lists
    exactly the listed nations flagged; days only when overdue with a last
    report; only the document's own types."""
    doc = published(name)
    rep = doc["reporting"]
    assert rep["overdue_days"] == 35
    rows = rep["nations"]
    assert [r["nation"] for r in rows] == sorted({r["nation"] for r in doc["nations"]}
                                                 | set(doc["not_reported"])
                                                 | {r["nation"] for r in rows})
    assert rep["overdue"] == [r["nation"] for r in rows if r["overdue"]]
    for r in rows:
        assert sorted(r["types"]) == sorted(DOC_TYPES[name])
        if r["status"] == "unlisted":
            assert not r["overdue"]
        if r["overdue_for_days"] is not None:
            assert r["overdue"] and r["last_report"] is not None
        for t in r["types"].values():
            assert (t["overdue_for_days"] is not None) == t["overdue"]
    # The golden scenario (test_compose.c, now 2005-12-10): BEL never
    # reported anything and is overdue in every document.
    assert "BEL" in rep["overdue"]
    bel = next(r for r in rows if r["nation"] == "BEL")
    assert bel["last_report"] is None and bel["overdue_for_days"] is None


def test_funding_anomalies_match_flags():
    doc = published("funding")
    assert doc["anomalies"] == [{"nation": "USA", "flag": "ACCEPTED_EXCEEDS_OFFERED",
                                 "category": "COMMUNICATIONS", "offered": 0, "accepted": 100}]
    for r in doc["nations"]:
        assert r["flags"] == sorted({a["flag"] for a in doc["anomalies"]
                                     if a["nation"] == r["nation"]}, reverse=True)


@pytest.mark.parametrize("name", NAMES)
def test_documents_before_reporting_still_validate(name):
    """Additive: a document published before the reporting block (and
    anomalies, flags) existed still validates."""
    doc = published(name)
    del doc["reporting"]
    doc.pop("anomalies", None)
    for r in doc["nations"]:
        r.pop("flags", None)
    assert not errors(name, doc)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("breakage", ["negative_days", "foreign_type", "extra_key", "no_types"])
def test_broken_reporting_is_rejected(name, breakage):
    doc = published(name)
    r = doc["reporting"]["nations"][0]
    if breakage == "negative_days":
        r["overdue_for_days"] = -1
    elif breakage == "foreign_type":
        other = "TRAINING" if name != "training" else "FUNDING"
        r["types"][other] = copy.deepcopy(next(iter(r["types"].values())))
    elif breakage == "extra_key":
        next(iter(r["types"].values()))["days_since"] = 3
    else:
        del r["types"]
    assert errors(name, doc)


def test_broken_anomaly_is_rejected():
    doc = published("funding")
    doc["anomalies"][0]["flag"] = "SOMETHING_ELSE"
    assert errors("funding", doc)
    doc = published("funding")
    doc["nations"][0]["flags"] = ["DISBURSED_WITHOUT_PLEDGE", "DISBURSED_WITHOUT_PLEDGE"]
    assert errors("funding", doc)


# --- Corrections and history (docs/design.md §2.9, §5.2, §5.9) ----------

@pytest.mark.parametrize("name", ["funding", "training"])
def test_recent_corrections_latest_first_of_own_types(name):
    doc = published(name)
    rc = doc["recent_corrections"]
    assert rc, "the golden scenario has corrections in both documents"
    keys = [(c["occurred_at"], c["nation"], c["event_id"]) for c in rc]
    assert [k[0] for k in keys] == sorted((k[0] for k in keys), reverse=True)
    own = {"funding": {"funding", "equipment"}, "training": {"training"}}[name]
    assert all(c["type"] in own for c in rc)
    # Every listed correction is counted in its nation's row.
    counted = {}
    for r in doc["nations"]:
        counted[r["nation"]] = r["corrections"]
    for c in rc:
        key = "supersessions" if c["kind"] == "supersede" else "retractions"
        assert counted[c["nation"]][key] >= 1


def test_staffing_dead_letters_latest_first():
    doc = published("staffing")
    gbr = row(doc, "GBR")
    assert gbr["dead_letters"]["count"] == 2
    at = [d["at"] for d in gbr["dead_letters"]["recent"]]
    assert at == sorted(at, reverse=True)
    assert all(r["dead_letters"]["count"] == 0 for r in doc["nations"] if r["nation"] != "GBR")


@pytest.mark.parametrize("name", NAMES)
def test_documents_before_corrections_still_validate(name):
    """Additive: a document published before corrections existed (no
    corrections, dead_letters, recent_corrections) still validates."""
    doc = published(name)
    doc.pop("recent_corrections", None)
    for r in doc["nations"]:
        r.pop("corrections", None)
        r.pop("dead_letters", None)
    assert not errors(name, doc)


def test_history_months_are_a_series():
    """No gap, ascending, through the month of as_of; year to date restarts
    in January and adds the months; pro rata is the yearly target's
    share; cumulative money never falls in the golden scenario (no
    retraction there moves a month cell below an earlier one)."""
    from decimal import Decimal
    doc = published("history")
    months = doc["months"]
    assert months[-1]["month"] == doc["as_of"][:7]
    ytd = {"in_iraq": 0, "outside_iraq": 0}
    prev = None
    for m in months:
        y, mo = int(m["month"][:4]), int(m["month"][5:])
        if prev:
            py, pmo = prev
            assert (y, mo) == ((py, pmo + 1) if pmo < 12 else (py + 1, 1))
        prev = (y, mo)
        for loc in ytd:
            ytd[loc] = (0 if mo == 1 else ytd[loc]) + m[f"trainees_{loc}"]
            assert m[f"trainees_{loc}_ytd"] == ytd[loc]
            assert m[f"pro_rata_{loc}"] == (doc["targets"][loc] * mo * 2 + 12) // 24
    for key in ("pledged_cumulative", "disbursed_cumulative"):
        values = [Decimal(m[key]) for m in months]
        assert values == sorted(values)
    # The golden scenario: GBR's 2 dead letters in November 2005, strength
    # 240 in December (USA 100 + 50, GBR 30 + 60).
    assert [m["dead_letters"] for m in months if m["dead_letters"]] == [2]
    assert months[-1]["strength_in_iraq"] == 240
