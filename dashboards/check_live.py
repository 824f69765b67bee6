#!/usr/bin/env python3
"""Evaluates every dashboard query against a running Prometheus and reports the ones that do
not parse (an error) or return no series (empty: either no traffic of that kind yet, or a wrong
name or label). Usage: python3 dashboards/check_live.py http://127.0.0.1:9090

The 24 h / 1 h windows are shortened to 5 m so a freshly started stack has data.
"""

import json
import pathlib
import sys
import urllib.error
import urllib.parse
import urllib.request

prom = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9090"
errors = empty = ok = 0
for path in sorted(pathlib.Path(__file__).resolve().parent.glob("*.json")):
    board = json.loads(path.read_text())
    for panel in board["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("[24h]", "[5m]").replace("[1h]", "[5m]")
            url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            try:
                answer = json.load(urllib.request.urlopen(url))
            except urllib.error.HTTPError as e:
                answer = json.load(e)
            if answer["status"] != "success":
                errors += 1
                print(f"ERROR {path.name} | {panel['title']} | {answer.get('error')}")
            elif not answer["data"]["result"]:
                empty += 1
                print(f"empty {path.name} | {panel['title']} | {target['legendFormat']}")
            else:
                ok += 1
print(f"ok={ok} empty={empty} errors={errors}")
sys.exit(1 if errors else 0)
