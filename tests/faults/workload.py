"""The workload of a fault scenario: events whose every effect is known, and
the comparison of the dashboards with what they must say.

The events come from tests/integration/tecgpy/events.py (the generator the
integration tests use), adjusted so that each event adds exactly one unit to
a counter the dashboards show, per nation and type:

  funding     amount "1" (major unit) in one of several currencies: the sum
              of `pledged` and `disbursed` over all currencies is the number
              of funding events counted
  equipment   quantity 1: the sum of the stage quantities is the count
  training    trainees 1: the sum of the nation's training rows is the count
  personnel   latest report wins per (role, location), so nothing adds up:
              the k-th report of a cell has headcount k and a later
              occurred_at than the (k-1)-th, so the cell's headcount is the
              number of its reports up to the latest one counted; a cell
              below its report count lost its latest reports, one above it
              cannot happen without a wrong count

So lost (expected minus counted) and double-counted (counted minus
expected) are exact event counts per nation and type. On top of that the
whole documents are compared with tecgpy.model (the independent model of
docs/design.md §4), which also checks the values the counters do not cover.
"""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from tecgpy import events as tevents
from tecgpy.model import Model, check_documents

TYPES = ("funding", "equipment", "personnel", "training")
CURRENCIES = ("EUR", "USD", "JPY", "GBP", "KWD")
DASHBOARDS = ("funding", "staffing", "training")
PERSONNEL_BASE = dt.datetime(2005, 3, 1, tzinfo=dt.timezone.utc)


def unit_events(nation, count, seed, id_prefix):
    """`count` valid events of the four types for `nation`, as dicts, each
    adding one unit to its nation/type counter (module docstring)."""
    evs = tevents.generate(nation, count, seed=seed, id_prefix=id_prefix)
    cells = defaultdict(int)
    for i, ev in enumerate(evs):
        t = ev["type"]
        if t == "funding":
            ev["amount"] = "1"
            ev["currency"] = CURRENCIES[i % len(CURRENCIES)]
        elif t == "equipment":
            ev["quantity"] = 1
        elif t == "training":
            ev["trainees"] = 1
        else:
            cell = (ev["role"], ev["location"])
            cells[cell] += 1
            k = cells[cell]
            ev["headcount"] = k
            # Strictly later for each report of the cell; the offset varies
            # so that the comparison is on UTC instants, as the contract says.
            when = PERSONNEL_BASE + dt.timedelta(minutes=k)
            ev["occurred_at"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return evs


class Expected:
    """What the dashboards must show for a set of events: the counters per
    nation and type, the personnel cells, and the full model."""

    def __init__(self):
        self.model = Model()
        self.counts = defaultdict(int)         # (nation, type) -> events
        self.cells = defaultdict(int)          # (nation, role, location) -> reports
        self.ids = set()

    def add(self, ev):
        key = (ev["nation"], ev["event_id"])
        if key in self.ids:
            return
        self.ids.add(key)
        self.model.add(ev)
        self.counts[(ev["nation"], ev["type"])] += 1
        if ev["type"] == "personnel":
            self.cells[(ev["nation"], ev["role"], ev["location"])] += 1

    @property
    def events(self):
        return len(self.ids)

    def nations(self):
        return sorted({n for n, _t in self.counts})


def counted(docs, nations):
    """The counters as the dashboards show them: {(nation, type): units}
    and {(nation, role, location): headcount}."""
    counts = defaultdict(int)
    cells = {}
    for row in docs["funding"]["nations"]:
        n = row["nation"]
        if n not in nations:
            continue
        for stage in ("pledged", "disbursed"):
            for value in row[stage]["by_currency"].values():
                counts[(n, "funding")] += int(Decimal(value))
        counts[(n, "equipment")] += sum(s["quantity"] for s in row["equipment"]["stages"].values())
    for row in docs["staffing"]["nations"]:
        n = row["nation"]
        if n not in nations:
            continue
        for role, locs in row["roles"].items():
            for loc, headcount in locs.items():
                cells[(n, role, loc)] = headcount
    for row in docs["training"]["nations"]:
        if row["nation"] in nations:
            counts[(row["nation"], "training")] += row["trainees"]
    return counts, cells


def compare(expected, docs):
    """(lost, double_counted, per-nation/type differences, model
    differences) of the documents against the expectation."""
    nations = set(expected.nations())
    counts, cells = counted(docs, nations)
    lost = double = 0
    diffs = []
    for n in sorted(nations):
        for t in TYPES:
            if t == "personnel":
                got_lost = got_double = 0
                for (cn, role, loc), exp in expected.cells.items():
                    if cn != n:
                        continue
                    got = cells.get((n, role, loc), 0)
                    got_lost += max(0, exp - got)
                    got_double += max(0, got - exp)
                for (cn, role, loc), got in cells.items():
                    if cn == n and (cn, role, loc) not in expected.cells:
                        got_double += got
            else:
                exp = expected.counts.get((n, t), 0)
                got = counts.get((n, t), 0)
                got_lost, got_double = max(0, exp - got), max(0, got - exp)
            lost += got_lost
            double += got_double
            if got_lost or got_double:
                diffs.append(f"{n} {t}: lost {got_lost}, double-counted {got_double}")
    model_diffs = check_documents(expected.model, docs)
    return lost, double, diffs, model_diffs
