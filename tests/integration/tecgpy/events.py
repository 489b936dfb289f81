"""Test events: a deterministic generator of valid events and the Avro
record the producer must write for each (computed here independently of
the C code: exact decimals, RFC 3339 offsets)."""
import datetime as dt
import json
import random
from decimal import Decimal

MINOR_DIGITS = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "ISK": 0, "KWD": 3,
                "NOK": 2, "CAD": 2, "PLN": 2}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def parse_time(s):
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    offset_min = int(t.utcoffset().total_seconds() // 60)
    ms = (t - EPOCH) // dt.timedelta(milliseconds=1)
    return ms, offset_min


def minor(amount, currency):
    return int(Decimal(amount) * (10 ** MINOR_DIGITS[currency]))


def expected_record(ev):
    """(schema name, record) tecg must produce for a valid input event."""
    ms, off = parse_time(ev["occurred_at"])
    base = {"event_id": ev["event_id"], "nation": ev["nation"],
            "occurred_at": ms, "utc_offset_minutes": off}
    t = ev["type"]
    if t == "retraction":
        base.update(retracts=ev["retracts"], retracts_type=ev["retracts_type"],
                    reason=ev["reason"])
        return "retraction", base
    if t == "training":
        base.update(course=ev["course"], level=ev["level"],
                    location=ev["location"], venue=ev.get("venue"),
                    trainees=ev["trainees"])
        base["supersedes"] = ev.get("supersedes")
        return "training", base
    if t == "funding":
        detail = ("org.tecg.Funding", {
            "amount_minor": minor(ev["amount"], ev["currency"]),
            "currency": ev["currency"], "channel": ev["channel"],
            "stage": ev["stage"]})
    elif t == "equipment":
        has_value = "value" in ev
        detail = ("org.tecg.Equipment", {
            "item": ev["item"], "category": ev["category"],
            "quantity": ev["quantity"],
            "value_minor": minor(ev["value"], ev["currency"]) if has_value else None,
            "currency": ev["currency"] if has_value else None,
            "stage": ev["stage"]})
    else:
        detail = ("org.tecg.Personnel", {
            "role": ev["role"], "location": ev["location"],
            "headcount": ev["headcount"]})
    base["detail"] = detail
    base["supersedes"] = ev.get("supersedes")
    return "contribution", base


def normalize_decoded(name, rec):
    """fastavro turns timestamp-millis into datetime: back to ms."""
    rec = dict(rec)
    if isinstance(rec["occurred_at"], dt.datetime):
        rec["occurred_at"] = (rec["occurred_at"] - EPOCH) // dt.timedelta(milliseconds=1)
    return name, rec


def generate(nation, count, seed=1, id_prefix="e"):
    """`count` valid events of every type for `nation`, as dicts."""
    rnd = random.Random(seed)
    offsets = ["Z", "+03:00", "-05:00", "+01:00", "+05:30"]
    out = []
    for i in range(count):
        day = dt.datetime(2005, 1, 1) + dt.timedelta(minutes=rnd.randrange(0, 525600))
        when = day.strftime("%Y-%m-%dT%H:%M:%S") + rnd.choice(offsets)
        ev = {"type": None, "event_id": f"{id_prefix}{i:07d}", "nation": nation,
              "occurred_at": when}
        kind = i % 4
        if kind == 0:
            cur = rnd.choice(["EUR", "USD", "JPY", "KWD", "GBP"])
            d = MINOR_DIGITS[cur]
            units = rnd.randrange(1, 10**9)
            amount = str(units) if d == 0 else f"{units // 10**d}.{units % 10**d:0{d}d}"
            if Decimal(amount) == 0:
                amount = "1"
            ev.update(type="funding", amount=amount, currency=cur,
                      channel=rnd.choice(["TRUST_FUND", "COMMON_FUNDING", "BILATERAL"]),
                      stage=rnd.choice(["PLEDGED", "DISBURSED"]))
        elif kind == 1:
            ev.update(type="equipment", item=rnd.choice(["Land Rover", "radio set",
                                                          "body armour", "Säbel ✓"]),
                      category=rnd.choice(["VEHICLES", "WEAPONS", "AMMUNITION",
                                           "COMMUNICATIONS", "MEDICAL", "UNIFORMS", "OTHER"]),
                      quantity=rnd.randrange(1, 5000),
                      stage=rnd.choice(["OFFERED", "ACCEPTED", "DELIVERED"]))
            if rnd.random() < 0.5:
                ev.update(value=f"{rnd.randrange(0, 10**7)}.{rnd.randrange(0, 100):02d}",
                          currency="EUR")
        elif kind == 2:
            ev.update(type="personnel",
                      role=rnd.choice(["TRAINER", "MENTOR", "STAFF", "SUPPORT",
                                       "FORCE_PROTECTION"]),
                      location=rnd.choice(["IN_IRAQ", "OUTSIDE_IRAQ"]),
                      headcount=rnd.randrange(0, 60))
        else:
            ev.update(type="training", course=rnd.choice(["Staff officer course",
                                                          "Junior leaders", "Logistics"]),
                      level=rnd.choice(["JUNIOR", "MIDDLE", "SENIOR"]),
                      location=rnd.choice(["IN_IRAQ", "OUTSIDE_IRAQ"]),
                      trainees=rnd.randrange(1, 40))
            if rnd.random() < 0.5:
                ev["venue"] = rnd.choice(["Ar Rustamiyah", "NATO School Oberammergau"])
        out.append(ev)
    return out


def ndjson(events, newline="\n", final_newline=True):
    text = newline.join(json.dumps(e, ensure_ascii=False) for e in events)
    if final_newline and events:
        text += newline
    return text.encode()
