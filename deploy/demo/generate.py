#!/usr/bin/env python3
"""Demo data: a realistic 2005 for NATO's Training Mission in Iraq (seed:
staffed up to 360 personnel, about 1,000 officers trained a year in Iraq
and 500 outside, every nation contributing people, money or equipment).

Writes one NDJSON file per nation and month into SPOOL/<NATION>/incoming/,
the way a national system must (NAME.tmp, then rename). With --pace it
writes a month every PACE seconds, so the pipeline can be watched live.
About --bad-rate of the lines are broken on purpose (wrong enum, bad date,
typo in a field name, amount with too many decimals...), and a few events
are sent twice, as national systems do on retries.

Only the Python standard library is used."""
import argparse
import csv
import datetime as dt
import json
import os
import random
import sys
import time

# Share of the 360 mission personnel in Iraq by the end of 2005 (others: 0).
STAFF_SHARE = {"USA": 150, "ITA": 45, "GBR": 25, "NLD": 20, "POL": 20, "TUR": 12,
               "DNK": 10, "NOR": 10, "HUN": 8, "ROU": 8, "BGR": 6, "CZE": 6,
               "PRT": 6, "LTU": 5, "EST": 4, "LVA": 4, "SVK": 4, "SVN": 4,
               "ISL": 2, "CAN": 5, "ESP": 6, "DEU": 0, "FRA": 0, "BEL": 0,
               "GRC": 0, "LUX": 0}
# Nations that train outside Iraq (NATO schools and national academies).
OUTSIDE_VENUES = {"DEU": "Bundeswehr schools, Germany", "FRA": "Ecole de guerre, Paris",
                  "ITA": "NATO Defense College, Rome", "NOR": "NATO School Oberammergau",
                  "GBR": "Defence Academy, Shrivenham", "USA": "NATO School Oberammergau",
                  "NLD": "Netherlands Defence College", "HUN": "NATO School Oberammergau",
                  "CZE": "Vyskov military academy", "BEL": "Royal Higher Institute for Defence"}
# Trust-fund pledges (currency, amount in major units).
PLEDGES = {"BEL": ("EUR", 500000), "BGR": ("EUR", 30000), "CZE": ("EUR", 150000),
           "DNK": ("DKK", 1000000), "EST": ("EUR", 20000), "GRC": ("EUR", 100000),
           "HUN": ("EUR", 50000), "ISL": ("ISK", 3000000), "ITA": ("EUR", 500000),
           "LVA": ("EUR", 20000), "LTU": ("EUR", 30000), "LUX": ("EUR", 450000),
           "NLD": ("EUR", 400000), "NOR": ("NOK", 4000000), "POL": ("EUR", 100000),
           "PRT": ("EUR", 100000), "ROU": ("EUR", 50000), "SVK": ("EUR", 50000),
           "SVN": ("EUR", 60000), "ESP": ("EUR", 300000), "TUR": ("EUR", 100000),
           "GBR": ("GBP", 1000000), "USA": ("USD", 6000000), "CAN": ("USD", 500000),
           "DEU": ("EUR", 1000000), "FRA": ("EUR", 652000)}
EQUIPMENT = {"HUN": ("T-72 main battle tanks", "VEHICLES", 77, "0.00"),
             "DEU": ("Trucks and spare parts", "VEHICLES", 100, "1500000.00"),
             "NLD": ("Small arms ammunition", "AMMUNITION", 250000, "180000.00"),
             "NOR": ("Body armour", "UNIFORMS", 2000, "600000.00"),
             "SVN": ("Assault rifles", "WEAPONS", 1000, None),
             "GBR": ("HF radio sets", "COMMUNICATIONS", 120, "900000.00"),
             "DNK": ("Field medical kits", "MEDICAL", 400, "75000.00"),
             "ITA": ("Carabinieri vehicles", "VEHICLES", 25, "1250000.00"),
             "BEL": ("Uniforms", "UNIFORMS", 5000, "250000.00"),
             "CZE": ("Spare parts for T-72", "OTHER", 60, None)}
MINOR = {"EUR": 2, "USD": 2, "GBP": 2, "DKK": 2, "NOK": 2, "ISK": 0}
OFFSET = {"USA": "-05:00", "CAN": "-05:00", "GBR": "Z", "PRT": "Z", "ISL": "Z",
          "TUR": "+02:00", "GRC": "+02:00", "ROU": "+02:00", "BGR": "+02:00",
          "EST": "+02:00", "LVA": "+02:00", "LTU": "+02:00"}
ROLES = ["TRAINER", "MENTOR", "STAFF", "SUPPORT", "FORCE_PROTECTION"]
COURSES = [("Senior staff officer course", "SENIOR"), ("Joint staff course", "MIDDLE"),
           ("Battalion command course", "MIDDLE"), ("Junior leaders course", "JUNIOR"),
           ("Logistics officers course", "MIDDLE"), ("Strategic leadership seminar", "SENIOR")]


def money(currency, major):
    d = MINOR[currency]
    return f"{major}" if d == 0 else f"{major}.{0:0{d}d}"


def when(nation, month, day, hour, rnd):
    day = min(day, 28)
    t = dt.datetime(2005, month, day, hour, rnd.randrange(60), rnd.randrange(60))
    return t.strftime("%Y-%m-%dT%H:%M:%S") + OFFSET.get(nation, "+01:00")


# The demo's corrections (docs/design.md §2.9).
TYPO_PLEDGE = "ITA"
WITHDRAWN_OFFER = "NLD"


def month_events(nation, month, rnd):
    evs = []
    n = 0

    def ev(kind, event_id=None, **fields):
        nonlocal n
        n += 1
        e = {"type": kind, "event_id": event_id or f"{nation}-2005-{month:02d}-{n:04d}",
             "nation": nation, "occurred_at": when(nation, month, rnd.randrange(1, 29),
                                                   rnd.randrange(7, 19), rnd)}
        e.update(fields)
        evs.append(e)

    # Personnel: absolute strength per role, rising from February to 360 in December.
    share = STAFF_SHARE.get(nation, 0)
    if share and month >= 2:
        strength = round(share * min(1.0, 0.15 + 0.85 * (month - 2) / 10))
        split = [0.35, 0.2, 0.25, 0.1, 0.1]
        counts = [int(strength * s) for s in split]
        counts[0] += strength - sum(counts)
        for role, c in zip(ROLES, counts):
            ev("personnel", role=role, location="IN_IRAQ", headcount=c)
        if nation in OUTSIDE_VENUES:
            ev("personnel", role="TRAINER", location="OUTSIDE_IRAQ",
               headcount=max(1, share // 10))
    # Training in Iraq: trainers' nations, ~1,000 a year in all.
    if share >= 10 and month >= 3:
        for _ in range(rnd.randrange(1, 3)):
            course, level = rnd.choice(COURSES)
            ev("training", course=course, level=level, location="IN_IRAQ",
               venue="Ar Rustamiyah, Baghdad", trainees=rnd.randrange(4, 6 + share // 4))
    # Training outside Iraq: ~500 a year.
    if nation in OUTSIDE_VENUES and month % 2 == 0:
        course, level = rnd.choice(COURSES)
        ev("training", course=course, level=level, location="OUTSIDE_IRAQ",
           venue=OUTSIDE_VENUES[nation], trainees=rnd.randrange(4, 14))
    # Funding: pledge in March, disbursed in two halves. One nation's March
    # pledge has a digit too many: it sends the right one in May, superseding
    # the first (docs/design.md §2.9).
    cur, major = PLEDGES.get(nation, ("EUR", 10000))
    if month == 3:
        typo = nation == TYPO_PLEDGE
        ev("funding", event_id=f"{nation}-2005-pledge", currency=cur, channel="TRUST_FUND",
           amount=money(cur, major * 10 if typo else major), stage="PLEDGED")
    if month == 5 and nation == TYPO_PLEDGE:
        ev("funding", event_id=f"{nation}-2005-pledge-corrected", supersedes=f"{nation}-2005-pledge",
           amount=money(cur, major), currency=cur, channel="TRUST_FUND", stage="PLEDGED")
    if month in (6, 11):
        ev("funding", amount=money(cur, major // 2), currency=cur, channel="TRUST_FUND",
           stage="DISBURSED")
    if month == 4 and nation in ("USA", "GBR", "ITA"):
        ev("funding", amount=money(cur, major // 4), currency=cur, channel="BILATERAL",
           stage="PLEDGED")
    # Equipment: offered, accepted, delivered.
    if nation in EQUIPMENT:
        item, cat, qty, value = EQUIPMENT[nation]
        stage = {4: "OFFERED", 6: "ACCEPTED", 9: "DELIVERED"}.get(month)
        if stage:
            fields = dict(item=item, category=cat, quantity=qty, stage=stage)
            if value is not None:
                fields.update(value=value, currency="EUR")
            ev("equipment", event_id=f"{nation}-2005-equipment-{stage.lower()}", **fields)
    # One nation withdraws its equipment offer in July: a retraction.
    if month == 7 and nation == WITHDRAWN_OFFER:
        ev("retraction", retracts=f"{nation}-2005-equipment-offered", retracts_type="equipment",
           reason="Offer withdrawn: the vehicles are needed at home")
    return evs


BREAKERS = [
    lambda e: e.update(stage="PROMISED") if "stage" in e else e.update(type="donation"),
    lambda e: e.update(occurred_at="2005-02-30T10:00:00Z"),
    lambda e: e.update(occurred_at=e["occurred_at"][:19]),        # no offset
    lambda e: e.update(nation="XYZ"),
    lambda e: e.update(comment="sent by hand"),                    # unknown field
    lambda e: e.update(amount="1000.005") if "amount" in e else e.pop("event_id"),
    lambda e: e.update(headcount=-3) if "headcount" in e else e.update(event_id="bad id!"),
]


def render(evs, rnd, bad_rate):
    lines = []
    for e in evs:
        if rnd.random() < bad_rate:
            b = dict(e)
            rnd.choice(BREAKERS)(b)
            lines.append(json.dumps(b, ensure_ascii=False))
        else:
            lines.append(json.dumps(e, ensure_ascii=False))
        if rnd.random() < 0.01:  # a national system retrying: same event again
            lines.append(json.dumps(e, ensure_ascii=False))
    if rnd.random() < bad_rate * 5:
        lines.append("{this is not json")
    return "\n".join(lines) + "\n"


def write_atomically(directory, name, text):
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.rename(tmp, os.path.join(directory, name + ".ndjson"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spool", required=True, help="root of the per-nation spools")
    ap.add_argument("--nations", default=os.path.join(os.path.dirname(__file__),
                                                      "..", "nations.csv"))
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--pace", type=float, default=0.0,
                    help="seconds between months (0: write everything at once)")
    ap.add_argument("--bad-rate", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=2005)
    args = ap.parse_args()

    with open(args.nations, newline="") as f:
        rows = [r for r in csv.reader(line for line in f if not line.startswith("#"))]
    nations = [r[0] for r in rows[1:] if r]
    rnd = random.Random(args.seed)
    total = 0
    for month in range(1, args.months + 1):
        for nation in nations:
            evs = month_events(nation, month, rnd)
            if not evs:
                continue
            text = render(evs, rnd, args.bad_rate)
            total += text.count("\n")
            write_atomically(os.path.join(args.spool, nation, "incoming"),
                             f"{nation}-2005-{month:02d}", text)
        print(f"generate: 2005-{month:02d} written ({total} lines so far)",
              file=sys.stderr, flush=True)
        if args.pace and month < args.months:
            time.sleep(args.pace)


if __name__ == "__main__":
    main()
