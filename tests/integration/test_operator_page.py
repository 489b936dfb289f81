"""The operator page (GET /) served by the HTTP server module.

Runs without a broker: `test_http_server --serve DIR` (a mode of the unit
test binary) serves realistic sample documents written here, in the shape
consumers/compose.h describes (26 members, EUR, 360 authorized strength).

- the page is self-contained: no resource from anywhere but this server,
  and it follows /api/stream with EventSource; its one inline script runs
  by the hash in its Content-Security-Policy, not 'unsafe-inline';
- it is served to a token holder only (tokens file of the server; the
  tests' urllib requests carry the token, see conftest.py), and a browser
  signs in through /#token=... without the token reaching the server's URL;
- where chromium is installed, the page really renders the three
  dashboards from the stream, highlights a new version and falls back to
  a generic rendering for what it does not know (headless chromium over
  the DevTools pipe; scripts/install-deps installs chromium).

`python3 tests/integration/test_operator_page.py DIR` writes the sample
documents to DIR, for looking at the page by hand:
    build/tests/test_http_server --serve DIR 8080 [TOKENS-FILE]
"""
import base64
import hashlib
import json
import os
import random
import select
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from html.parser import HTMLParser

import pytest

from conftest import DASHBOARD_TOKEN, dashboard_tokens_file, scaled

ROOT = os.environ.get("TECG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("TECG_BUILD_DIR") or os.path.join(ROOT, "build")

ROLES = ["TRAINER", "MENTOR", "STAFF", "SUPPORT", "FORCE_PROTECTION"]
LEVELS = ["JUNIOR", "MIDDLE", "SENIOR"]
CHANNELS = ["TRUST_FUND", "COMMON_FUNDING", "BILATERAL"]
STAGES = ["OFFERED", "ACCEPTED", "DELIVERED"]
CATEGORIES = ["VEHICLES", "WEAPONS", "AMMUNITION", "COMMUNICATIONS",
              "MEDICAL", "UNIFORMS", "OTHER"]
# 1 unit = N EUR (2005-ish).
RATES = {"CAD": "0.6550", "CZK": "0.0336", "DKK": "0.1341", "GBP": "1.4622",
         "HUF": "0.0040", "NOK": "0.1247", "PLN": "0.2470", "USD": "0.8042"}
HOME_CURRENCY = {"CAN": "CAD", "CZE": "CZK", "DNK": "DKK", "GBR": "GBP",
                 "HUN": "HUF", "NOR": "NOK", "POL": "PLN", "USA": "USD"}


def nations():
    rows = []
    with open(os.path.join(ROOT, "deploy", "nations.csv")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or line.startswith("code,"):
                continue
            code, name, status = line.split(",")
            rows.append((code, name, status))
    return rows


def cents(x):
    return f"{x / 100:.2f}"


def money(by_currency):
    """A MONEY block from {currency: cents}."""
    conv = 0
    for cur, amount in by_currency.items():
        rate = 1.0 if cur == "EUR" else float(RATES[cur])
        conv += round(amount * rate)
    return {"by_currency": {c: cents(a) for c, a in sorted(by_currency.items())},
            "converted": cents(conv), "missing_rates": []}


def add_money(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def sample_documents(version=1, seed=2005):
    rnd = random.Random(seed)
    ns = nations()
    as_of = "2005-11-30T16:45:00Z"
    gen = "2005-11-30T16:45:02.118Z"

    # funding
    f_nations, tot_p, tot_d = [], {}, {}
    tot_ch = {c: ({}, {}) for c in CHANNELS}
    tot_eq = {s: [0, {}] for s in STAGES}
    reported = 0
    for code, name, status in ns:
        has = rnd.random() > 0.2
        cur = HOME_CURRENCY.get(code, "EUR")
        p, d, ch, eq = {}, {}, {c: ({}, {}) for c in CHANNELS}, {}
        if has:
            reported += 1
            for c in CHANNELS:
                if rnd.random() < 0.5:
                    amt = rnd.randrange(5, 400) * 10000 * 100
                    cc = cur if c == "BILATERAL" else "EUR"
                    ch[c][0][cc] = ch[c][0].get(cc, 0) + amt
                    dis = amt * rnd.randrange(0, 11) // 10
                    if dis:
                        ch[c][1][cc] = ch[c][1].get(cc, 0) + dis
            for c in CHANNELS:
                p = add_money(p, ch[c][0])
                d = add_money(d, ch[c][1])
                tot_ch[c] = (add_money(tot_ch[c][0], ch[c][0]),
                             add_money(tot_ch[c][1], ch[c][1]))
        stages = {}
        cats = {}
        for cat in CATEGORIES:
            cats[cat] = {}
            for s_i, s in enumerate(STAGES):
                q = 0
                if has and rnd.random() < 0.25:
                    q = rnd.randrange(1, 60) * (3 - s_i)
                cats[cat][s] = {"quantity": q,
                                "value": money({"EUR": q * 1500000} if q else {})}
        for s in STAGES:
            q = sum(cats[c][s]["quantity"] for c in CATEGORIES)
            stages[s] = {"quantity": q,
                         "value": money({"EUR": q * 1500000} if q else {})}
            tot_eq[s][0] += q
            if q:
                tot_eq[s][1] = add_money(tot_eq[s][1], {"EUR": q * 1500000})
        tot_p, tot_d = add_money(tot_p, p), add_money(tot_d, d)
        f_nations.append({
            "nation": code, "name": name, "status": status,
            "reported": has or any(stages[s]["quantity"] for s in STAGES),
            "pledged": money(p), "disbursed": money(d),
            "channels": {c: {"pledged": money(ch[c][0]),
                             "disbursed": money(ch[c][1])} for c in CHANNELS},
            "equipment": {"stages": stages, "categories": cats}})
    funding = {
        "dashboard": "funding", "version": version, "generated_at": gen,
        "as_of": as_of, "reporting_currency": "EUR",
        "rates": {c: RATES[c] for c in sorted({c for n in f_nations
                                              for c in n["pledged"]["by_currency"]} - {"EUR"})},
        "missing_rates": [],
        "total": {"nations_reported": reported,
                  "pledged": money(tot_p), "disbursed": money(tot_d),
                  "channels": {c: {"pledged": money(tot_ch[c][0]),
                                   "disbursed": money(tot_ch[c][1])}
                               for c in CHANNELS},
                  "equipment": {"stages": {s: {"quantity": tot_eq[s][0],
                                               "value": money(tot_eq[s][1])}
                                           for s in STAGES}}},
        "nations": f_nations,
        "not_reported": [n["nation"] for n in f_nations if not n["reported"]],
    }

    # staffing
    big = {"USA": 95, "ITA": 45, "GBR": 30, "NLD": 24, "TUR": 12, "POL": 14,
           "DNK": 10, "NOR": 8, "ROU": 8, "HUN": 8, "CZE": 6, "BGR": 6,
           "LTU": 4, "EST": 2, "LVA": 3, "SVK": 4, "SVN": 3, "PRT": 6,
           "ISL": 1, "CAN": 5}
    s_nations, tot_roles, nrep = [], {r: {"IN_IRAQ": 0, "OUTSIDE_IRAQ": 0}
                                      for r in ROLES}, 0
    for code, name, status in ns:
        n_in = big.get(code, 0)
        has = code in big or rnd.random() < 0.5
        roles = {r: {"IN_IRAQ": 0, "OUTSIDE_IRAQ": 0} for r in ROLES}
        left = n_in
        for i, r in enumerate(ROLES):
            share = left if i == len(ROLES) - 1 else rnd.randrange(0, left + 1) // 2
            roles[r]["IN_IRAQ"] = share
            left -= share
        out = rnd.randrange(0, 5) if has and rnd.random() < 0.5 else 0
        roles["TRAINER"]["OUTSIDE_IRAQ"] = out
        for r in ROLES:
            for loc in ("IN_IRAQ", "OUTSIDE_IRAQ"):
                tot_roles[r][loc] += roles[r][loc]
        nrep += has
        s_nations.append({
            "nation": code, "name": name, "status": status, "reported": has,
            "last_report": (f"2005-11-{rnd.randrange(1, 30):02d}T08:00:00Z"
                            if has else None),
            "in_iraq": n_in, "outside_iraq": out, "total": n_in + out,
            "roles": roles})
    in_iraq = sum(n["in_iraq"] for n in s_nations)
    outside = sum(n["outside_iraq"] for n in s_nations)
    staffing = {
        "dashboard": "staffing", "version": version, "generated_at": gen,
        "as_of": as_of,
        "total": {"nations_reported": nrep, "in_iraq": in_iraq,
                  "outside_iraq": outside, "total": in_iraq + outside,
                  "roles": tot_roles, "authorized_strength": 360,
                  "fill_rate": round(in_iraq / 360, 4),
                  "shortfall": max(0, 360 - in_iraq)},
        "nations": s_nations,
        "not_reported": [n["nation"] for n in s_nations if not n["reported"]],
    }

    # training
    providers = {"USA", "ITA", "GBR", "DEU", "FRA", "NLD", "NOR", "TUR",
                 "HUN", "POL", "DNK", "BEL", "CZE", "ROU"}
    years, t_nations = [], []
    for year, scale in ((2004, 0.15), (2005, 0.7)):
        tot = {"IN_IRAQ": {l: 0 for l in LEVELS},
               "OUTSIDE_IRAQ": {l: 0 for l in LEVELS}}
        count = 0
        for code, name, status in ns:
            if code not in providers:
                continue
            lv = {"IN_IRAQ": {l: 0 for l in LEVELS},
                  "OUTSIDE_IRAQ": {l: 0 for l in LEVELS}}
            for loc in lv:
                for l in ("MIDDLE", "SENIOR"):
                    if rnd.random() < 0.6:
                        lv[loc][l] = int(rnd.randrange(5, 90) * scale)
            if code in ("DEU", "FRA", "BEL"):
                lv["IN_IRAQ"] = {l: 0 for l in LEVELS}
            n_in, n_out = sum(lv["IN_IRAQ"].values()), sum(lv["OUTSIDE_IRAQ"].values())
            if not n_in + n_out:
                continue
            count += 1
            for loc in lv:
                for l in LEVELS:
                    tot[loc][l] += lv[loc][l]
            t_nations.append({
                "year": year, "nation": code, "name": name, "status": status,
                "trainees": n_in + n_out,
                "in_iraq": {"trainees": n_in, "levels": lv["IN_IRAQ"]},
                "outside_iraq": {"trainees": n_out,
                                 "levels": lv["OUTSIDE_IRAQ"]}})
        t_in, t_out = sum(tot["IN_IRAQ"].values()), sum(tot["OUTSIDE_IRAQ"].values())
        years.append({
            "year": year, "trainees": t_in + t_out, "nations_providing": count,
            "in_iraq": {"trainees": t_in, "target": 1000,
                        "progress": round(t_in / 1000, 4),
                        "levels": tot["IN_IRAQ"]},
            "outside_iraq": {"trainees": t_out, "target": 500,
                             "progress": round(t_out / 500, 4),
                             "levels": tot["OUTSIDE_IRAQ"]}})
    trained = {n["nation"] for n in t_nations}
    training = {
        "dashboard": "training", "version": version, "generated_at": gen,
        "as_of": as_of, "targets": {"in_iraq": 1000, "outside_iraq": 500},
        "years": years, "nations": t_nations,
        "not_reported": [c for c, _, _ in ns if c not in trained],
    }
    docs = {"funding": funding, "staffing": staffing, "training": training}
    add_quality(docs, rnd, gen)
    return docs


OVERDUE_DAYS = 35
DOC_TYPES = {"funding": ("FUNDING", "EQUIPMENT"), "staffing": ("PERSONNEL",),
             "training": ("TRAINING",)}


def ms_of(ts):
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def add_quality(docs, rnd, gen):
    """The reporting blocks and anomalies tecg-dashboard adds (compose.h,
    docs/design.md §5.8), worked out here as a model at `gen`: BEL last
    reported personnel on 2005-10-01 (overdue 25 days), NLD accepted more
    vehicles than offered."""
    funding, staffing, training = docs["funding"], docs["staffing"], docs["training"]
    for n in staffing["nations"]:
        if n["nation"] == "BEL":
            n["reported"], n["last_report"] = True, "2005-10-01T08:00:00Z"
    staffing["not_reported"] = [n["nation"] for n in staffing["nations"] if not n["reported"]]
    last = {}  # (nation, type) -> time
    for n in staffing["nations"]:
        if n["last_report"]:
            last[(n["nation"], "PERSONNEL")] = n["last_report"]
    for n in funding["nations"]:
        if n["reported"]:
            last[(n["nation"], "FUNDING")] = f"2005-11-{rnd.randrange(1, 29):02d}T09:00:00Z"
    for n in training["nations"]:
        last[(n["nation"], "TRAINING")] = f"2005-{rnd.randrange(9, 12):02d}-15T09:00:00Z"
    now = ms_of(gen)
    limit = OVERDUE_DAYS * 86400000
    ever = {code for code, _ in last}

    def status(times, listed, never_anything):
        t = [x for x in times if x]
        late = [(now - ms_of(x) - limit) // 86400000 for x in t if now - ms_of(x) > limit]
        return {"last_report": max(t, key=ms_of) if t else None,
                "overdue": listed and (bool(late) or never_anything),
                "overdue_for_days": max(late) if listed and late else None}

    for name, doc in docs.items():
        rows = []
        for code, nm, st in nations():
            types = {}
            for ty in DOC_TYPES[name]:
                x = last.get((code, ty))
                s = status([x], True, False)
                types[ty] = s
            row = {"nation": code, "name": nm, "status": st}
            row.update(status([last.get((code, ty)) for ty in DOC_TYPES[name]], True,
                              code not in ever))
            row["types"] = types
            rows.append(row)
        doc["reporting"] = {"overdue_days": OVERDUE_DAYS,
                            "overdue": [r["nation"] for r in rows if r["overdue"]],
                            "nations": rows}
    funding["anomalies"] = [{"nation": "NLD", "flag": "ACCEPTED_EXCEEDS_OFFERED",
                             "category": "VEHICLES", "offered": 2, "accepted": 5}]
    for n in funding["nations"]:
        n["flags"] = ["ACCEPTED_EXCEEDS_OFFERED"] if n["nation"] == "NLD" else []


def write_samples(directory, version=1, seed=2005):
    os.makedirs(directory, exist_ok=True)
    for name, doc in sample_documents(version, seed).items():
        tmp = os.path.join(directory, f".{name}.tmp")
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, os.path.join(directory, f"{name}.json"))


@pytest.fixture
def server(tmp_path):
    binary = os.path.join(BUILD, "tests", "test_http_server")
    if not os.path.exists(binary):
        pytest.fail(f"{binary} is not built")
    write_samples(tmp_path / "docs")
    tokens = dashboard_tokens_file(tmp_path, "wall", "/ /api/dashboards/ /api/stream")
    proc = subprocess.Popen([binary, "--serve", str(tmp_path / "docs"), "0", str(tokens)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("port "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}", tmp_path / "docs"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Resources(HTMLParser):
    """Every URL-valued attribute, inline scripts and styles."""

    def __init__(self):
        super().__init__()
        self.urls, self.tags, self.scripts, self.styles = [], [], [], []
        self._in = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "action", "srcset", "poster", "data",
                     "formaction", "background") and v is not None:
                self.urls.append((tag, k, v))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)


def test_page_is_self_contained(server):
    base, _ = server
    with urllib.request.urlopen(base + "/", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        csp = r.headers["Content-Security-Policy"]
        html = r.read().decode("utf-8")
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src
    p = Resources()
    p.feed(html)
    assert html.lower().startswith("<!doctype html>")
    assert "link" not in p.tags and "iframe" not in p.tags
    for tag, attr, url in p.urls:
        # Only links to this server's own paths (raw JSON, exports).
        assert url.startswith("/") and not url.startswith("//"), (tag, attr, url)
        assert tag == "a", (tag, attr, url)
    script = "\n".join(p.scripts)
    style = "\n".join(p.styles)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in script_src
    assert "new EventSource(" in script and "/api/stream" in script
    for text in (script, style):
        assert "http:" not in text and "https:" not in text
        assert "@import" not in text and "url(" not in text
    for name in ("funding", "staffing", "training"):
        assert name in script


def test_page_needs_the_token(server):
    base, _ = server
    for path in ("/", "/api/dashboards", "/api/stream"):
        req = urllib.request.Request(base + path, headers={"Authorization": "Bearer x"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 401, path
        if path == "/":  # the sign-in form instead of the page
            html = e.value.read().decode()
            assert "action='/login'" in html and "EventSource" not in html


def test_api_serves_the_samples(server):
    base, _ = server
    with urllib.request.urlopen(base + "/api/dashboards", timeout=10) as r:
        listing = json.load(r)
    assert [d["name"] for d in listing] == ["funding", "staffing", "training"]
    with urllib.request.urlopen(base + "/api/dashboards/staffing",
                                timeout=10) as r:
        doc = json.load(r)
    assert doc["total"]["authorized_strength"] == 360
    assert len(doc["nations"]) == 26


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


# What Chromium answers an evaluation made while the page navigates.
NAVIGATING = ("Inspected target navigated or closed", "Execution context was destroyed",
              "Cannot find context with specified id")


class Browser:
    """Headless chromium driven over --remote-debugging-pipe (the DevTools
    protocol as NUL-terminated JSON on fds 3 and 4): no extra package, and
    the test waits for what the page shows instead of guessing a delay."""

    def __init__(self, profile):
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def fds():
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--no-first-run",
             "--remote-debugging-pipe", f"--user-data-dir={profile}",
             "--window-size=1920,1080", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=fds, pass_fds=(3, 4))
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf, self._id, self.session = b"", 0, None

    def call(self, method, timeout=30, **params):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError(method)
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium went away")
            self._buf += chunk

    def open(self, url):
        target = self.call("Target.createTarget", url=url)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]

    def js(self, expression):
        r = self.call("Runtime.evaluate", expression=expression,
                      returnByValue=True)
        return r["result"].get("value")

    def wait_for(self, expression, timeout=40):
        # A wait, not a measure: headless Chromium on a busy 2-core machine
        # (two test files at a time) can take long to lay a page out.
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            try:
                if self.js(expression):
                    return
            except RuntimeError as e:
                # The sign-in page replaces itself with the operator page
                # (location.replace): an evaluation in between has no page
                # to run in, which is "not yet", not a failure.
                if not any(m in str(e) for m in NAVIGATING):
                    raise
            time.sleep(0.1)
        raise AssertionError(f"never true within {scaled(timeout):.0f} s: {expression}")

    def close(self):
        try:
            self.session = None
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


def test_page_renders_in_chromium(server, tmp_path):
    # scripts/install-deps installs chromium: its absence is a failure.
    assert chromium() is not None, "chromium is not installed (scripts/install-deps)"
    base, docs = server
    # A dashboard the page does not know: rendered generically.
    (docs / "equipment.json").write_text(json.dumps({
        "dashboard": "equipment", "version": 1, "as_of": None,
        "lines": [{"nation": "BEL", "item": "Trucks, 4x4", "qty": 20}]}))
    time.sleep(0.7)  # the server re-reads the directory every 300 ms
    b = Browser(tmp_path / "profile")
    try:
        # Signed in by the fragment, which the sign-in page drops at once.
        b.open(base + "/#token=" + DASHBOARD_TOKEN)
        b.wait_for("document.getElementById('conn') !== null"
                   " && document.getElementById('conn').className === 'live'")
        assert b.js("location.hash") == ""
        assert b.js("document.cookie") == ""  # HttpOnly: no script reads it
        b.wait_for("['funding', 'staffing', 'training'].every((n) =>"
                   " document.querySelectorAll('#dash-' + n + ' table').length >= 2)")
        b.wait_for("!!document.querySelector('#dash-equipment table')")
        text = b.js("document.body.innerText")
        for want in ("Belgium", "United States", "/ 360", "fill rate",
                     "/ 1,000", "/ 500", "Total in EUR", "Trucks, 4x4"):
            assert want in text, want
        assert b.js("document.querySelectorAll('.render-error').length") == 0
        assert b.js("document.querySelectorAll("
                    "'#dash-staffing tbody tr').length") >= 26 + 6

        # A new version: the panel, the header and the changed cells show it.
        doc = json.loads((docs / "staffing.json").read_text())
        doc["version"] += 1
        fra = next(n for n in doc["nations"] if n["nation"] == "FRA")
        fra["roles"]["TRAINER"]["IN_IRAQ"] += 7
        fra["in_iraq"] += 7
        doc["total"]["in_iraq"] += 7
        (docs / "staffing.tmp").write_text(json.dumps(doc))
        os.replace(docs / "staffing.tmp", docs / "staffing.json")
        b.wait_for("document.querySelector('#dash-staffing .meta b')"
                   f".textContent === '{doc['version']}'")
        assert b.js("document.querySelectorAll('#dash-staffing .chg').length") >= 3
        assert f"Staffing v{doc['version']}" in b.js(
            "document.getElementById('last').textContent")

        # A document the staffing renderer cannot read: shown generically.
        doc["version"] += 1
        doc["nations"] = "not a list"
        (docs / "staffing.tmp").write_text(json.dumps(doc))
        os.replace(docs / "staffing.tmp", docs / "staffing.json")
        b.wait_for("!!document.querySelector('#dash-staffing .render-error')")
        assert "not a list" in b.js(
            "document.getElementById('dash-staffing').innerText")
    finally:
        b.close()


def test_reporting_model_of_the_samples():
    """The samples' reporting blocks say what the page must show."""
    docs = sample_documents()
    bel = next(r for r in docs["staffing"]["reporting"]["nations"] if r["nation"] == "BEL")
    assert bel["overdue"] and bel["overdue_for_days"] == 25
    assert "BEL" in docs["staffing"]["reporting"]["overdue"]


@pytest.mark.parametrize("width", [1400, 400])
def test_operator_page_flags_and_width(server, tmp_path, width):
    """At a desk (1400 px) and on a phone (400 px): the overdue flag with
    how long, the reporting and data-quality panel, the anomaly flag, the
    data age from generated_at; at 400 px nothing makes the page wider
    than the screen (tables scroll inside their box)."""
    assert chromium() is not None, "chromium is not installed (scripts/install-deps)"
    base, docs = server
    b = Browser(tmp_path / "profile")
    try:
        b.open(base + "/#token=" + DASHBOARD_TOKEN)
        b.call("Emulation.setDeviceMetricsOverride", width=width, height=900,
               deviceScaleFactor=1, mobile=False)
        b.wait_for("document.getElementById('conn') !== null"
                   " && document.getElementById('conn').className === 'live'")
        b.wait_for("['funding', 'staffing', 'training'].every((n) =>"
                   " document.querySelectorAll('#dash-' + n + ' table').length >= 2)"
                   " && !!document.querySelector('#dash-quality table')")
        assert b.js("window.innerWidth") == width

        # Overdue: BEL silent since 2005-10-01, 25 days past the 35.
        row = ("[...document.querySelectorAll('#dash-quality tr')]"
               ".find((tr) => tr.querySelector('.code') &&"
               " tr.querySelector('.code').textContent === 'BEL')")
        assert b.js(f"!!{row}.querySelector('.flag.overdue')")
        assert "overdue 25 d" in b.js(f"{row}.innerText")
        # (its latest report of any kind is training; personnel is late)
        assert "Staffing" in b.js(f"{row}.innerText")
        staff_bel = ("[...document.querySelectorAll('#dash-staffing tbody tr')]"
                     ".find((tr) => tr.querySelector('.code') &&"
                     " tr.querySelector('.code').textContent === 'BEL')")
        assert b.js(f"{staff_bel}.querySelector('.flag.overdue').textContent") == \
            "overdue 25 d"
        # A nation that reported recently carries no flag.
        usa = staff_bel.replace("'BEL'", "'USA'")
        assert b.js(f"{usa}.querySelector('.flag.overdue')") is None
        n_overdue = len(sample_documents()["staffing"]["reporting"]["overdue"])
        assert b.js("document.querySelectorAll('#dash-staffing tbody .flag.overdue').length") \
            >= n_overdue

        # The data-quality panel says what it knows and what it does not.
        quality = b.js("document.getElementById('dash-quality').textContent")
        assert "Rejected lines and dead letters" in quality
        assert "tecg_aggregator_dead_lettered_total" in quality

        # The anomaly: in the panel and on NLD's funding row.
        assert b.js("document.querySelectorAll('#dash-quality tr.anomaly').length") == 1
        nld = staff_bel.replace("#dash-staffing", "#dash-funding").replace("'BEL'", "'NLD'")
        assert b.js(f"{nld}.querySelector('.flag.anom').textContent") == "accepted > offered"

        # Data age from generated_at (2005), not from when the page loaded.
        ages = b.js("[...document.querySelectorAll('#dash-staffing .upd')]"
                    ".map((u) => u.textContent)")
        assert ages and all(a.endswith(" d ago") for a in ages), ages
        assert "d ago" in b.js("document.getElementById('last').textContent")
        assert b.js("document.querySelectorAll('.render-error').length") == 0

        # No sideways scrolling of the whole page; wide tables scroll in
        # their own box; the header wraps inside the screen.
        assert b.js("document.documentElement.scrollWidth") <= width
        assert b.js("document.body.scrollWidth") <= width
        assert b.js("document.querySelector('header').scrollWidth") <= width
        assert b.js("[...document.querySelectorAll('section.dash')]"
                    ".every((s) => s.getBoundingClientRect().right <= window.innerWidth + 0.5)")
        if width == 400:
            assert b.js("[...document.querySelectorAll('.wrap')]"
                        ".some((w) => w.scrollWidth > w.clientWidth)"), \
                "no table is wider than the screen: the scrolling box is untested"
            shot = b.call("Page.captureScreenshot", format="png")["data"]
            assert len(base64.b64decode(shot)) > 1000
    finally:
        b.close()


def history_document(version, months):
    """A history document (model.md's shape) of `months` months from
    2005-01: strength growing towards 360, trainees by year to date with
    the pro-rata lines, money cumulative."""
    rows = []
    for i in range(months):
        m = i + 1
        rows.append({
            "month": f"2005-{m:02d}", "strength_in_iraq": 150 + 15 * i,
            "trainees_in_iraq": 60 + i, "trainees_outside_iraq": 30,
            "trainees_in_iraq_ytd": sum(60 + k for k in range(i + 1)),
            "trainees_outside_iraq_ytd": 30 * m,
            "pro_rata_in_iraq": round(1000 * m / 12), "pro_rata_outside_iraq": round(500 * m / 12),
            "pledged_cumulative": f"{2500000 * m}.00", "disbursed_cumulative": f"{900000 * m}.00",
            "dead_letters": i % 3})
    return {"dashboard": "history", "version": version,
            "generated_at": "2005-11-26T08:00:00Z", "as_of": f"2005-{months:02d}-20T08:00:00Z",
            "currency": "EUR", "authorized_strength": 360,
            "targets": {"in_iraq": 1000, "outside_iraq": 500}, "months": rows}


# GET /api/nation/FRA as consumers/dashboard/nation_view.h describes it.
FRA_VIEW = {
    "nation": "FRA", "name": "France", "status": "member", "version": 14, "events": 40,
    "as_of": "2005-11-20T08:00:00Z",
    "reporting": {"overdue_days": 35, "last_report": "2005-11-20T08:00:00Z", "overdue": True,
                  "overdue_for_days": 3,
                  "types": {"FUNDING": {"last_report": "2005-09-12T08:00:00Z", "overdue": True,
                                        "overdue_for_days": 3},
                            "EQUIPMENT": {"last_report": None, "overdue": False,
                                          "overdue_for_days": None},
                            "PERSONNEL": {"last_report": "2005-11-20T08:00:00Z",
                                          "overdue": False, "overdue_for_days": None},
                            "TRAINING": {"last_report": "2005-11-02T08:00:00Z",
                                         "overdue": False, "overdue_for_days": None}}},
    "funding": [{"channel": "TRUST_FUND", "stage": "PLEDGED", "currency": "EUR",
                 "amount": "810000.00"}],
    "equipment": [], "equipment_values": [],
    "personnel": [{"role": "TRAINER", "location": "IN_IRAQ", "headcount": 42,
                   "occurred_at": "2005-11-20T08:00:00Z", "event_id": "FRA-p-17"}],
    "training": [{"year": 2005, "location": "OUTSIDE_IRAQ", "level": "SENIOR", "trainees": 25}],
    "corrections": {"supersessions": 1, "retractions": 1, "recent": [
        {"event_id": "FRA-r-1", "target_id": "FRA-p-9", "kind": "retract", "type": "personnel",
         "occurred_at": "2005-11-01T08:00:00Z", "before": "personnel TRAINER IN_IRAQ 420",
         "after": "", "reason": "a typo: 420 for 42"},
        {"event_id": "FRA-f-2", "target_id": "FRA-f-1", "kind": "supersede", "type": "funding",
         "occurred_at": "2005-09-12T08:00:00Z",
         "before": "funding TRUST_FUND PLEDGED 8100000.00 EUR",
         "after": "funding TRUST_FUND PLEDGED 810000.00 EUR", "reason": None}]},
    "dead_letters": {"count": 2, "months": [{"month": "2005-10", "count": 2}], "recent": [
        {"at": "2005-10-03T10:00:00Z", "stage": "contract",
         "reason": "supersedes FRA-f-1, which was already superseded by FRA-f-2"},
        {"at": "2005-10-02T10:00:00Z", "stage": "signature", "reason": "bad signature"}]},
}


def replace_json(path, doc):
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def no_overflow(b, width):
    assert b.js("document.documentElement.scrollWidth") <= width
    assert b.js("document.body.scrollWidth") <= width
    assert b.js("document.querySelector('header').scrollWidth") <= width
    assert b.js("[...document.querySelectorAll('section.dash')]"
                ".every((s) => s.getBoundingClientRect().right <= window.innerWidth + 0.5)")


@pytest.mark.parametrize("width", [1400, 400])
def test_charts_quality_and_drilldown(server, tmp_path, width):
    """The charts: none without a history document; drawn (three SVGs with
    their series as data) once it arrives over the stream, and drawn again
    for its next version. The data-quality panel: dead letters per nation
    with the latest reasons, and that rejected lines are counted by the
    producers. The drill-down: nation codes link to /nation/XXX, which
    shows GET /api/nation/XXX. Nothing wider than the screen."""
    assert chromium() is not None, "chromium is not installed (scripts/install-deps)"
    base, docs = server
    b = Browser(tmp_path / "profile")
    try:
        b.open(base + "/#token=" + DASHBOARD_TOKEN)
        b.call("Emulation.setDeviceMetricsOverride", width=width, height=900,
               deviceScaleFactor=1, mobile=False)
        b.wait_for("document.getElementById('conn').className === 'live'"
                   " && !!document.querySelector('#dash-staffing table')")
        # No history document: no chart, no empty panel.
        assert b.js("document.getElementById('dash-history')") is None
        assert b.js("document.querySelectorAll('svg.chart').length") == 0

        replace_json(docs / "history.json", history_document(1, 11))
        b.wait_for("document.querySelectorAll('#dash-history svg.chart').length === 3")
        charts = b.js("[...document.querySelectorAll('svg.chart')].map((s) => ({id: s.id,"
                      " months: Number(s.dataset.months), lines: [...s.querySelectorAll("
                      "'polyline')].map((p) => [p.dataset.series, Number(p.dataset.points)])}))")
        by_id = {c["id"]: c for c in charts}
        assert set(by_id) == {"chart-strength", "chart-training", "chart-money"}
        assert all(c["months"] == 11 for c in charts)
        assert dict(by_id["chart-strength"]["lines"]) == {
            "in Iraq (latest reports at each month end)": 11, "authorized strength": 11}
        assert len(by_id["chart-training"]["lines"]) == 4
        assert all(n == 11 for _, n in by_id["chart-training"]["lines"])
        assert [s for s, _ in by_id["chart-money"]["lines"]] == ["pledged", "disbursed"]
        # The strength line climbs (y falls) and stays below the 360 line.
        ys = b.js("document.querySelector('#chart-strength polyline:not(.ref)')"
                  ".getAttribute('points').split(' ').map((p) => Number(p.split(',')[1]))")
        ref = b.js("Number(document.querySelector('#chart-strength polyline.ref')"
                   ".getAttribute('points').split(' ')[0].split(',')[1])")
        assert ys == sorted(ys, reverse=True) and min(ys) > ref
        box = b.js("(() => { const r = document.querySelector('#chart-money').getBoundingClientRect();"
                   " return [r.width, r.height]; })()")
        assert box[0] > 200 and box[1] > 60, box
        text = b.js("document.getElementById('dash-history').textContent")
        assert "against the authorized 360" in text and "pro rata" in text
        # Live: the next version, one month more, redraws the charts.
        replace_json(docs / "history.json", history_document(2, 12))
        b.wait_for("Number(document.querySelector('#chart-money').dataset.months) === 12")

        # Dead letters per nation, in the staffing document's rows.
        staffing = json.loads((docs / "staffing.json").read_text())
        staffing["version"] += 1
        for n in staffing["nations"]:
            n["dead_letters"] = {"count": 0, "recent": []}
            if n["nation"] == "BEL":
                n["dead_letters"] = {"count": 3, "recent": [
                    {"at": "2005-10-03T10:00:00Z", "stage": "contract",
                     "reason": "retracts BEL-9, which was already retracted by BEL-10"},
                    {"at": "2005-10-01T10:00:00Z", "stage": "signature",
                     "reason": "no signature"}]}
        replace_json(docs / "staffing.json", staffing)
        b.wait_for("document.querySelectorAll('#dash-quality tr.dead').length === 1")
        dead = b.js("document.querySelector('#dash-quality tr.dead').innerText")
        assert "BEL" in dead and "3" in dead and "already retracted by BEL-10" in dead
        quality = b.js("document.getElementById('dash-quality').textContent")
        assert "Rejected lines are counted by each producer" in quality
        assert "tecg_producer_rejected_total" in quality
        no_overflow(b, width)
        if width == 400:
            shot = b.call("Page.captureScreenshot", format="png")["data"]
            assert len(base64.b64decode(shot)) > 1000

        # The drill-down: FRA's code links to /nation/FRA.
        href = b.js("[...document.querySelectorAll('#dash-staffing a.code')]"
                    ".find((a) => a.textContent === 'FRA').getAttribute('href')")
        assert href == "/nation/FRA"
        (docs / "nation").mkdir()
        replace_json(docs / "nation" / "FRA.json", FRA_VIEW)
        b.call("Page.navigate", url=base + href)
        b.wait_for("!!document.querySelector('#dash-nation tr.correction')")
        nation = b.js("document.getElementById('dash-nation').textContent")
        for want in ("FRA - France", "overdue 3 d", "a typo: 420 for 42",
                     "funding TRUST_FUND PLEDGED 8100000.00 EUR",
                     "already superseded by FRA-f-2", "810,000", "FRA-p-17",
                     "Rejected lines are counted by the producer"):
            assert want in nation, want
        assert b.js("document.querySelectorAll('#dash-nation tr.correction').length") == 2
        assert b.js("document.querySelectorAll('#dash-nation tr.dead').length") == 2
        assert b.js("document.querySelectorAll('#dash-staffing, #dash-quality').length") == 0
        assert b.js("document.querySelectorAll('.render-error').length") == 0
        no_overflow(b, width)
        # A nation the list does not hold.
        b.call("Page.navigate", url=base + "/nation/XXZ")
        b.wait_for("(document.getElementById('dash-nation') || {}).innerText"
                   " && document.getElementById('dash-nation').innerText"
                   ".includes('not in the nations list')")
    finally:
        b.close()


if __name__ == "__main__":
    write_samples(sys.argv[1] if len(sys.argv) > 1 else "sample-docs",
                  version=int(sys.argv[2]) if len(sys.argv) > 2 else 1,
                  seed=int(sys.argv[3]) if len(sys.argv) > 3 else 2005)
