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
    """Counts each (nation, event_id) once and applies corrections as
    docs/design.md §2.9 and §4.4 say, in arrival order (one producer per
    nation and one partition per nation keep a nation's order)."""

    def __init__(self):
        self.counted = {}        # (nation, id) -> event
        self.status = {}         # (nation, id) -> ACTIVE | SUPERSEDED | RETRACTED | RETRACTION
        self.pending = {}        # (nation, target id) -> (status it gets, expected type, by id)
        self.refused = []        # (event, reason words) of corrections dead-lettered
        self.supersessions = defaultdict(int)
        self.retractions = defaultdict(int)
        self.pledged = defaultdict(lambda: defaultdict(Decimal))    # nation -> cur -> sum
        self.disbursed = defaultdict(lambda: defaultdict(Decimal))
        self.equipment_qty = defaultdict(lambda: defaultdict(int))  # nation -> stage -> qty
        self.personnel = {}                                         # (nation, role, loc) -> (ms, id, n)
        self._reports = defaultdict(dict)                           # the same key -> id -> report
        self.training = defaultdict(int)                            # (year, nation, loc, level) -> n

    @property
    def seen(self):
        return set(self.counted)

    def add(self, ev):
        """Counts a valid event once per (nation, event_id)."""
        n, t = ev["nation"], ev["type"]
        key = (n, ev["event_id"])
        if key in self.counted:
            return
        if t == "retraction":
            target, ttype, becomes = ev["retracts"], ev["retracts_type"], "RETRACTED"
        else:
            target, ttype, becomes = ev.get("supersedes"), t, "SUPERSEDED"
        if target:
            tk = (n, target)
            if tk in self.counted:
                if self.status[tk] != "ACTIVE":
                    self.refused.append((ev, "already"))
                    return
                if self.counted[tk]["type"] != ttype:
                    self.refused.append((ev, "type"))
                    return
                self.status[tk] = becomes
                self._effect(self.counted[tk], -1)
            elif tk in self.pending:
                self.refused.append((ev, "already"))
                return
            else:
                self.pending[tk] = (becomes, ttype, ev["event_id"])
            if t == "retraction":
                self.retractions[n] += 1
            else:
                self.supersessions[n] += 1
        self.counted[key] = ev
        own = self.pending.pop(key, None)
        if t == "retraction":
            self.status[key] = "RETRACTION"
        elif own and own[1] == t:
            self.status[key] = own[0]
        else:
            self.status[key] = "ACTIVE"
            self._effect(ev, +1)

    def _effect(self, ev, sign):
        n, t = ev["nation"], ev["type"]
        if t == "funding":
            target = self.pledged if ev["stage"] == "PLEDGED" else self.disbursed
            target[n][ev["currency"]] += sign * Decimal(ev["amount"])
            if not target[n][ev["currency"]]:
                del target[n][ev["currency"]]
        elif t == "equipment":
            self.equipment_qty[n][ev["stage"]] += sign * ev["quantity"]
        elif t == "personnel":
            k = (n, ev["role"], ev["location"])
            ms, _ = parse_time(ev["occurred_at"])
            reports = self._reports[k]
            if sign > 0:
                reports[ev["event_id"]] = (ms, ev["event_id"].encode(), ev["headcount"])
            else:
                del reports[ev["event_id"]]
            if reports:
                self.personnel[k] = max(reports.values(), key=lambda r: r[:2])
            else:
                self.personnel.pop(k, None)
        else:
            ms, _ = parse_time(ev["occurred_at"])
            year = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).year
            k = (year, n, ev["location"], ev["level"])
            self.training[k] += sign * ev["trainees"]
            if not self.training[k]:
                del self.training[k]

    # --- what the documents must say ------------------------------------
    def funding_rows(self):
        rows = {}
        pledged, disbursed, qty = self.pledged, self.disbursed, self.equipment_qty
        for n in set(pledged) | set(disbursed) | set(qty):
            rows[n] = {
                "pledged": {c: money(v, c) for c, v in sorted(pledged[n].items())},
                "disbursed": {c: money(v, c) for c, v in sorted(disbursed[n].items())},
                "equipment": {s: qty[n].get(s, 0)
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
        corr = row.get("corrections")
        want = {"supersessions": model.supersessions.get(n, 0),
                "retractions": model.retractions.get(n, 0)}
        if corr is not None and corr != want:
            diffs.append(f"funding {n} corrections: {corr} != {want}")
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
