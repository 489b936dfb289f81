"""The aggregation of docs/design.md §4, computed independently in Python from the
input events, to compare with what the C pipeline publishes."""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from .events import parse_time

ROLES = ["TRAINER", "MENTOR", "STAFF", "SUPPORT", "FORCE_PROTECTION"]
LOCATIONS = ["IN_IRAQ", "OUTSIDE_IRAQ"]
LEVELS = ["JUNIOR", "MIDDLE", "SENIOR"]
DIGITS = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KWD": 3, "NOK": 2, "DKK": 2, "ISK": 0}


def money(value, currency):
    d = DIGITS[currency]
    q = Decimal(1).scaleb(-d)
    return str(Decimal(value).quantize(q))


class Model:
    def __init__(self):
        self.seen = set()
        self.pledged = defaultdict(lambda: defaultdict(Decimal))    # nation -> cur -> sum
        self.disbursed = defaultdict(lambda: defaultdict(Decimal))
        self.equipment_qty = defaultdict(lambda: defaultdict(int))  # nation -> stage -> qty
        self.personnel = {}                                         # (nation, role, loc) -> (ms, id, n)
        self.training = defaultdict(int)                            # (year, nation, loc, level) -> n

    def add(self, ev):
        """Counts a valid event once per (nation, event_id)."""
        key = (ev["nation"], ev["event_id"])
        if key in self.seen:
            return
        self.seen.add(key)
        n, t = ev["nation"], ev["type"]
        ms, _ = parse_time(ev["occurred_at"])
        if t == "funding":
            target = self.pledged if ev["stage"] == "PLEDGED" else self.disbursed
            target[n][ev["currency"]] += Decimal(ev["amount"])
        elif t == "equipment":
            self.equipment_qty[n][ev["stage"]] += ev["quantity"]
        elif t == "personnel":
            k = (n, ev["role"], ev["location"])
            cand = (ms, ev["event_id"].encode(), ev["headcount"])
            if k not in self.personnel or cand[:2] > self.personnel[k][:2]:
                self.personnel[k] = cand
        else:
            year = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).year
            self.training[(year, n, ev["location"], ev["level"])] += ev["trainees"]

    # --- what the documents must say ------------------------------------
    def funding_rows(self):
        rows = {}
        for n in set(self.pledged) | set(self.disbursed) | set(self.equipment_qty):
            rows[n] = {
                "pledged": {c: money(v, c) for c, v in sorted(self.pledged[n].items())},
                "disbursed": {c: money(v, c) for c, v in sorted(self.disbursed[n].items())},
                "equipment": {s: self.equipment_qty[n].get(s, 0)
                              for s in ("OFFERED", "ACCEPTED", "DELIVERED")},
            }
        return rows

    def staffing_rows(self):
        rows = defaultdict(lambda: {"in_iraq": 0, "outside_iraq": 0,
                                    "roles": {r: {l: 0 for l in LOCATIONS} for r in ROLES}})
        for (n, role, loc), (_ms, _id, count) in self.personnel.items():
            rows[n]["roles"][role][loc] = count
            rows[n]["in_iraq" if loc == "IN_IRAQ" else "outside_iraq"] += count
        return dict(rows)

    def training_years(self):
        years = defaultdict(lambda: {l: {lv: 0 for lv in LEVELS} for l in LOCATIONS})
        for (year, _n, loc, level), count in self.training.items():
            years[year][loc][level] += count
        return dict(years)

    def training_rows(self):
        rows = defaultdict(int)
        for (year, n, _loc, _lv), count in self.training.items():
            rows[(year, n)] += count
        return dict(rows)


def check_documents(model, docs):
    """Asserts the three documents say what the model computed; returns a
    list of differences (empty when equal) for a readable failure."""
    diffs = []
    funding, staffing, training = docs["funding"], docs["staffing"], docs["training"]
    got = {r["nation"]: r for r in funding["nations"]}
    for n, exp in model.funding_rows().items():
        row = got.get(n)
        if not row:
            diffs.append(f"funding: no row for {n}")
            continue
        for k in ("pledged", "disbursed"):
            if row[k]["by_currency"] != exp[k]:
                diffs.append(f"funding {n} {k}: {row[k]['by_currency']} != {exp[k]}")
        for s, q in exp["equipment"].items():
            if row["equipment"]["stages"][s]["quantity"] != q:
                diffs.append(f"funding {n} equipment {s}: "
                             f"{row['equipment']['stages'][s]['quantity']} != {q}")
    got = {r["nation"]: r for r in staffing["nations"]}
    exp_rows = model.staffing_rows()
    for n, exp in exp_rows.items():
        row = got[n]
        for k in ("in_iraq", "outside_iraq", "roles"):
            if row[k] != exp[k]:
                diffs.append(f"staffing {n} {k}: {row[k]} != {exp[k]}")
    total_in = sum(r["in_iraq"] for r in exp_rows.values())
    if staffing["total"]["in_iraq"] != total_in:
        diffs.append(f"staffing total in_iraq {staffing['total']['in_iraq']} != {total_in}")
    exp_years = model.training_years()
    got_years = {y["year"]: y for y in training["years"]}
    if sorted(got_years) != sorted(exp_years):
        diffs.append(f"training years {sorted(got_years)} != {sorted(exp_years)}")
    for year, exp in exp_years.items():
        y = got_years.get(year)
        for loc, key in (("IN_IRAQ", "in_iraq"), ("OUTSIDE_IRAQ", "outside_iraq")):
            if y and y[key]["levels"] != exp[loc]:
                diffs.append(f"training {year} {key}: {y[key]['levels']} != {exp[loc]}")
    got_rows = {(r["year"], r["nation"]): r["trainees"] for r in training["nations"]}
    if got_rows != model.training_rows():
        diffs.append(f"training rows {got_rows} != {model.training_rows()}")
    return diffs
