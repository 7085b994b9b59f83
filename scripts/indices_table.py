#!/usr/bin/env python3
"""Prints `GET /api/v1/rounds/{round}/indices?...` (JSON on stdin) as a table: rank, unit, forms,
SIPAS with its 95% interval, and the policy and service components. Withheld units (fewer forms
than the round's minimum) show their count only. Display rounding happens here, not in the API."""
import json
import sys


def fmt(fig):
    if fig is None or fig.get("value") is None:
        return "        —          "
    lo, hi = fig.get("ci_low"), fig.get("ci_high")
    ci = f"[{lo:6.2f}, {hi:6.2f}]" if lo is not None and hi is not None else "[  n/a ]"
    return f"{fig['value']:6.2f} {ci}"


data = json.load(sys.stdin)
if "results" not in data:
    sys.exit(json.dumps(data, ensure_ascii=False, indent=2))
print(f"{data['round']} · {data['unit']['name']} · {data['method']} · min {data['min_cell']} forms")
print(f"{'#':>3}  {'unit':<26} {'forms':>6}  {'SIPAS [95% CI]':<24} {'policy':<24} {'service':<24}")
for r in data["results"]:
    est = r["estimates"]
    comps = {c["code"]: c["figure"] for c in est["components"]}
    overall = est["overall"]["figure"] if est["overall"] else None
    rank = r["rank"] if r["rank"] is not None else "-"
    note = "  (insufficient sample / chưa đủ mẫu)" if r["withheld"] else ""
    print(
        f"{rank:>3}  {r['unit']['name'][:26]:<26} {r['n_forms']:>6}  "
        f"{fmt(overall):<24} {fmt(comps.get('policy')):<24} {fmt(comps.get('service')):<24}{note}"
    )
