#!/usr/bin/env python3
"""Generate the administrative-geography data files of the `geography` crate.

Source: the PyPI package `vietnamadminunits` (MIT licence, (c) Tran Ngoc Minh Hieu),
which bundles the official GSO code lists of Vietnam's administrative units before
and after the 1 July 2025 reform and the old -> new mapping:

* `data/dataset.db`, table `admin_units_legacy`: 63 provinces, their districts and
  communes (one row per commune; island districts without communes have one row
  with an empty commune);
* `data/dataset.db`, table `admin_units`: 34 provinces and 3,321 communes;
* `data/converter_2025.json`: old province -> new province, and old commune -> new
  commune(s), with an `isDefaultNewWard` flag where an old commune was divided.

Usage (run once, commit the output):

    pip install vietnamadminunits==1.0.4
    python3 scripts/gen_geography.py

Writes into `geography/data/` (relative to the repository root):
`vn-2023.tsv`, `vn-2025.tsv`, `vn-2023-to-vn-2025.tsv` and `SOURCE.md`.
Output is deterministic (sorted, UTF-8, NFC, LF line ends). The script fails
loudly if the source data breaks an assumption the crate relies on.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import unicodedata
from collections import Counter, defaultdict
from importlib import metadata
from pathlib import Path

import vietnamadminunits

PKG = "vietnamadminunits"
PKG_DIR = Path(vietnamadminunits.__file__).parent
OUT_DIR = Path(__file__).resolve().parent.parent / "geography" / "data"

LEVEL_ORDER = {"province": 0, "district": 1, "commune": 2}
CODE_LEN = {"province": 2, "district": 3, "commune": 5}

# Unit types as they prefix official full names, longest first so that
# "Thành phố" is tried before a hypothetical shorter overlap.
TYPES = {
    "province": ["Thành phố", "Tỉnh"],
    "district": ["Thành phố", "Thị xã", "Huyện", "Quận"],
    "commune": ["Thị trấn", "Đặc khu", "Phường", "Xã"],
}

notes: list[str] = []  # source inconsistencies fixed on the way, for SOURCE.md


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", " ".join(s.split()))


def split_type(geo: str, full: str, level: str, source_type: str | None, code: str) -> tuple[str, str]:
    """Split an official full name ("Tỉnh Lai Châu") into (type, name).

    The full name is authoritative: the package's separate type column and
    short name disagree with it for a handful of units (swapped xã/phường,
    "(Thị trấn)" disambiguation suffixes), so both are derived from it.
    """
    full = nfc(full)
    for t in TYPES[level]:
        if full.casefold().startswith(t.casefold() + " "):
            unit_type = t.lower()
            name = full[len(t) + 1 :].strip()
            if source_type is not None and nfc(source_type).lower() != unit_type:
                notes.append(
                    f"{geo} {level} {code} `{full}`: type column says `{source_type}`, "
                    f"full name says `{unit_type}`; kept `{unit_type}`."
                )
            return unit_type, name
    sys.exit(f"cannot split type from {level} {code} {full!r}")


def load_db():
    con = sqlite3.connect(PKG_DIR / "data" / "dataset.db")
    con.row_factory = sqlite3.Row
    return con


def build_2023(con):
    units: dict[str, tuple] = {}  # code -> (code, level, type, name, parent)
    key_to_code: dict[str, str] = {}  # converter key "prov_dist_ward" -> code
    island_districts: list[str] = []

    def put(row):
        code = row[0]
        if code in units and units[code] != row:
            sys.exit(f"conflicting rows for {code}: {units[code]} vs {row}")
        units[code] = row

    rows = con.execute(
        "SELECT province, provinceCode, provinceKey, district, districtType, districtCode,"
        " districtKey, ward, wardType, wardCode, wardKey FROM admin_units_legacy"
    ).fetchall()
    for r in rows:
        pc, dc, wc = r["provinceCode"], r["districtCode"], r["wardCode"]
        pt, pn = split_type("vn-2023", r["province"], "province", None, pc)
        put((pc, "province", pt, pn, ""))
        dt, dn = split_type("vn-2023", r["district"], "district", r["districtType"], dc)
        put((dc, "district", dt, dn, pc))
        key = f"{r['provinceKey']}_{r['districtKey']}_{r['wardKey'] or ''}"
        if wc:
            wt, wn = split_type("vn-2023", r["ward"], "commune", r["wardType"], wc)
            put((wc, "commune", wt, wn, dc))
            key_to_code[key] = wc
        else:
            # Island districts (Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn, Côn Đảo)
            # had no communes; the converter maps the district itself.
            key_to_code[key] = dc
            island_districts.append(dc)
    province_key_to_code = {r["provinceKey"]: r["provinceCode"] for r in rows}
    return units, key_to_code, province_key_to_code, sorted(set(island_districts))


def build_2025(con):
    units: dict[str, tuple] = {}
    key_to_code: dict[tuple[str, str], str] = {}
    rows = con.execute(
        "SELECT province, provinceCode, provinceKey, ward, wardType, wardCode, wardKey FROM admin_units"
    ).fetchall()
    for r in rows:
        pc, wc = r["provinceCode"], r["wardCode"]
        pt, pn = split_type("vn-2025", r["province"], "province", None, pc)
        units.setdefault(pc, (pc, "province", pt, pn, ""))
        if wc in units:
            sys.exit(f"duplicate 2025 commune {wc}")
        wt, wn = split_type("vn-2025", r["ward"], "commune", r["wardType"], wc)
        units[wc] = (wc, "commune", wt, wn, pc)
        key_to_code[(r["provinceKey"], r["wardKey"])] = wc
    province_key_to_code = {r["provinceKey"]: r["provinceCode"] for r in rows}
    return units, key_to_code, province_key_to_code


def build_mapping(old_keys, old_pkeys, new_keys, new_pkeys, old_units, island_districts):
    conv = json.loads((PKG_DIR / "data" / "converter_2025.json").read_text("utf-8"))
    succ: dict[str, dict[str, bool]] = defaultdict(dict)  # old code -> {new code: default}

    for new_pk, old_pks in conv["DICT_PROVINCE"].items():
        for old_pk in old_pks:
            succ[old_pkeys[old_pk]][new_pkeys[new_pk]] = True

    # Old communes that went whole into one new commune.
    for new_pk, wards in conv["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_wk, olds in wards.items():
            new_code = new_keys[(new_pk, new_wk)]
            for old_key in olds:
                succ[old_keys[old_key]][new_code] = True
    # Old communes divided among several new ones; the package flags the default
    # (the one its converter picks when no street address is known).
    for new_pk, olds in conv["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, parts in olds.items():
            old_code = old_keys[old_key]
            for p in parts:
                succ[old_code][new_keys[(new_pk, p["newWardKey"])]] = bool(p["isDefaultNewWard"])

    rows = []
    for old_code, news in succ.items():
        level = old_units[old_code][1]
        if sum(news.values()) != 1:
            sys.exit(f"{old_code} has {sum(news.values())} default successors: {news}")
        for new_code, default in news.items():
            rows.append((old_code, level, new_code, "1" if default else "0"))
    # Every old commune, province and commune-less district must be mapped.
    expected = {c for c, u in old_units.items() if u[1] != "district"} | set(island_districts)
    if expected != set(succ):
        sys.exit(f"mapping coverage mismatch: {sorted(expected ^ set(succ))[:20]}")
    # Default successor first, then by new code: successors(old)[0] is the default.
    rows.sort(key=lambda r: (LEVEL_ORDER[r[1]], r[0], r[3] != "1", r[2]))
    return rows


def check_units(units: dict[str, tuple], levels: list[str]):
    for code, level, unit_type, name, parent in units.values():
        assert len(code) == CODE_LEN[level] and code.isdigit(), code
        assert name and unicodedata.is_normalized("NFC", name), (code, name)
        if level == "province":
            assert parent == "", code
        else:
            up = levels[levels.index(level) - 1]
            assert parent in units and units[parent][1] == up, (code, parent)


def write_tsv(path: Path, header: list[str], rows):
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("\t".join(header) + "\n")
        for r in rows:
            assert all("\t" not in x and "\n" not in x for x in r), r
            f.write("\t".join(r) + "\n")


def sorted_units(units):
    return sorted(units.values(), key=lambda u: (LEVEL_ORDER[u[1]], u[0]))


def main():
    version = metadata.version(PKG)
    meta = metadata.metadata(PKG)
    con = load_db()
    old_units, old_keys, old_pkeys, islands = build_2023(con)
    new_units, new_keys, new_pkeys = build_2025(con)
    check_units(old_units, ["province", "district", "commune"])
    check_units(new_units, ["province", "commune"])
    mapping = build_mapping(old_keys, old_pkeys, new_keys, new_pkeys, old_units, islands)

    # A commune's default successor must lie in its province's successor.
    province_succ = {r[0]: r[2] for r in mapping if r[1] == "province"}
    for old_code, level, new_code, default in mapping:
        if level == "commune":
            dist = old_units[old_code][4]
            prov = old_units[dist][4]
            if new_units[new_code][4] != province_succ[prov]:
                sys.exit(f"{old_code} -> {new_code} crosses provinces")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    header = ["code", "level", "type", "name", "parent_code"]
    write_tsv(OUT_DIR / "vn-2023.tsv", header, sorted_units(old_units))
    write_tsv(OUT_DIR / "vn-2025.tsv", header, sorted_units(new_units))
    write_tsv(
        OUT_DIR / "vn-2023-to-vn-2025.tsv",
        ["old_code", "old_level", "new_code", "is_default"],
        mapping,
    )

    count = Counter((u[1]) for u in old_units.values())
    count25 = Counter((u[1]) for u in new_units.values())
    per_old = Counter(r[0] for r in mapping if r[1] == "commune")
    divided = sum(1 for n in per_old.values() if n > 1)
    stats = {
        "vn-2023": dict(count),
        "vn-2025": dict(count25),
        "mapping_rows": len(mapping),
        "divided_communes": divided,
        "island_districts": islands,
    }
    island_names = ", ".join(f"{old_units[c][3]} ({c})" for c in islands)
    (OUT_DIR / "SOURCE.md").write_text(
        source_md(version, meta, stats, island_names, licence_text()), encoding="utf-8", newline="\n"
    )
    print(json.dumps(stats, ensure_ascii=False))


def licence_text() -> str:
    """The package's licence file, reproduced as the MIT licence requires."""
    dist = metadata.distribution(PKG)
    for f in dist.files or []:
        if f.name.upper().startswith("LICENSE"):
            return f.read_text(encoding="utf-8").strip()
    sys.exit("licence file not found in the package")


def source_md(version, meta, s, islands, licence) -> str:
    fixes = "\n".join(f"- {n}" for n in sorted(set(notes))) or "- none"
    c23, c25 = s["vn-2023"], s["vn-2025"]
    return f"""# Administrative geography data

Generated by `scripts/gen_geography.py` from the PyPI package
[`{PKG}`]({meta.get("Home-page", "https://pypi.org/project/vietnamadminunits/")})
version **{version}** (MIT licence, Copyright (c) 2025 Tran Ngoc Minh Hieu; author
in the package metadata: {meta.get("Author")} <{meta.get("Author-email")}>), which
bundles the official GSO code lists and the 2025 conversion table. Used under the
MIT licence; credit to the package author. Do not edit these files by hand.

Regenerate:

    pip install {PKG}=={version}
    python3 scripts/gen_geography.py

All files are UTF-8 TSV with a header line, LF line ends, names NFC-normalised,
rows sorted (level province → district → commune, then code). Codes are GSO
codes as zero-padded strings: province 2 digits, district 3, commune 5.
Commune codes of the two geographies overlap (a 2025 commune often reuses the
code of one of its 2023 predecessors), so a code means nothing without its
geography.

## `vn-2023.tsv` — 63 provinces, before 1 July 2025

Columns `code  level  type  name  parent_code`. `level` is `province`,
`district` or `commune`; `type` is the Vietnamese unit type in lower case
(`tỉnh`, `thành phố`, `huyện`, `quận`, `thị xã`, `thành phố` (a district-level
city: same word, told apart by `level`), `xã`, `phường`, `thị trấn`); `name` is
the official name without the type ("Lai Châu" for "Tỉnh Lai Châu");
`parent_code` is empty for a province, the province for a district, the
district for a commune.

Counts: {c23.get("province")} provinces, {c23.get("district")} districts,
{c23.get("commune")} communes.

**Date of this list.** Despite the name `vn-2023`, the package's "legacy" list
is the state just before the 2025 reform (e.g. Thừa Thiên Huế already appears
as "Thành phố Huế", made a centrally governed city on 1 January 2025, so a
search for "Thừa Thiên Huế" finds nothing; {c23.get("district")} districts and
{c23.get("commune")} communes, after the 2023–2025 mergers of districts and
communes), not the list in force during the 2023 survey round (about 705
districts and 10,600 communes at the start of 2023). Units merged away between
2023 and mid-2025 are therefore absent (their GSO codes are not in this file);
a 2023-round sample drawn from the older list may need its codes mapped to
this list first.

Five island districts had no communes: {islands}. They appear as
districts with no children.

## `vn-2025.tsv` — 34 provinces, from 1 July 2025

Same columns; levels `province` and `commune` only (no district level);
commune types `xã`, `phường`, `đặc khu`; a commune's parent is its province.

Counts: {c25.get("province")} provinces, {c25.get("commune")} communes.

## `vn-2023-to-vn-2025.tsv` — successor mapping

Columns `old_code  old_level  new_code  is_default`. One row per (old unit,
successor). Every 2023 province maps to exactly one 2025 province (provinces
merged whole). Every 2023 commune maps to one or more 2025 communes: most
went whole into one new commune; {s["divided_communes"]} were divided among
several, and the package marks one part as the default (the one its own
converter uses when no street address is known). Exactly one row per old
code has `is_default` = 1; within an old code the default row comes first,
then the others by code. {s["mapping_rows"]} rows in all.

Districts are not mapped: a district's successors are the union of its
communes' successors. The exception is the five commune-less island districts
above, which the package maps directly (each to a 2025 `đặc khu`); they appear
with `old_level` = `district`.

## Fixes applied to the source

The official full name (e.g. "Phường Việt Hòa") is taken as authoritative for
type and name; where the package's separate type column disagrees, the full
name wins. Short names carrying a disambiguation suffix such as
"Yên Viên (Thị trấn)" become "Yên Viên". Disagreements found:

{fixes}

## Licence of the source

The data above is derived from `{PKG}` {version}, distributed under this
licence:

```
{licence}
```
"""


if __name__ == "__main__":
    main()
