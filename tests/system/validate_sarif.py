#!/usr/bin/env python3
"""Checks a SARIF log the way GitHub code scanning reads one, and optionally against the schema.

Usage: validate_sarif.py SARIF [SCHEMA]

The structural checks follow GitHub's "SARIF support for code scanning" page: version 2.1.0 and a
$schema; each run has tool.driver.name and rules with unique ids; each rule has a short
description, a `security` tag and a numeric security-severity between 0.0 and 10.0; each result
has a ruleId naming one of the rules (and a ruleIndex pointing at it), a message text, a level,
at least one location whose artifactLocation.uri is a relative URI reference and whose region
starts at a line >= 1, and a partialFingerprints entry.  SCHEMA, when given, is the SARIF 2.1.0
JSON schema (draft-04), fetched at test time.  Prints "ok: N results, M rules"; on the first
failure prints what failed and exits 1.
"""

import json
import re
import sys

URI_REF = re.compile(r"^[A-Za-z0-9\-._~/+%!$&'()*,;=:@]+$")


def fail(msg):
    print(f"invalid SARIF: {msg}", file=sys.stderr)
    sys.exit(1)


def check_structure(doc):
    if doc.get("version") != "2.1.0":
        fail(f"version is {doc.get('version')!r}, not 2.1.0")
    if not isinstance(doc.get("$schema"), str):
        fail("no $schema")
    runs = doc.get("runs")
    if not isinstance(runs, list) or not runs:
        fail("no runs")
    nres = nrules = 0
    for ri, run in enumerate(runs):
        driver = run.get("tool", {}).get("driver", {})
        if not driver.get("name"):
            fail(f"runs[{ri}].tool.driver.name is missing")
        rules = driver.get("rules", [])
        ids = [r.get("id") for r in rules]
        if len(set(ids)) != len(ids) or any(not i for i in ids):
            fail(f"runs[{ri}]: rule ids are not unique and non-empty")
        for k, rule in enumerate(rules):
            where = f"runs[{ri}].rules[{k}] ({rule.get('id')})"
            if not rule.get("shortDescription", {}).get("text"):
                fail(f"{where}: no shortDescription.text")
            props = rule.get("properties", {})
            if "security" not in props.get("tags", []):
                fail(f"{where}: tags lack `security`")
            sev = props.get("security-severity")
            if not isinstance(sev, str) or not re.fullmatch(r"\d+(\.\d+)?", sev) or not 0.0 <= float(sev) <= 10.0:
                fail(f"{where}: security-severity {sev!r} is not a number from 0.0 to 10.0")
        for k, res in enumerate(run.get("results", [])):
            where = f"runs[{ri}].results[{k}]"
            rid = res.get("ruleId")
            if rid not in ids:
                fail(f"{where}: ruleId {rid!r} names no rule")
            if "ruleIndex" in res and ids[res["ruleIndex"]] != rid:
                fail(f"{where}: ruleIndex {res['ruleIndex']} is rule {ids[res['ruleIndex']]!r}, not {rid!r}")
            if not res.get("message", {}).get("text"):
                fail(f"{where}: no message.text")
            if res.get("level") not in ("none", "note", "warning", "error"):
                fail(f"{where}: level {res.get('level')!r}")
            locs = res.get("locations", [])
            if not locs:
                fail(f"{where}: no locations")
            for loc in locs:
                phys = loc.get("physicalLocation", {})
                uri = phys.get("artifactLocation", {}).get("uri", "")
                if not uri or uri.startswith("/") or "://" in uri or not URI_REF.match(uri):
                    fail(f"{where}: artifactLocation.uri {uri!r} is not a relative URI reference")
                if phys.get("region", {}).get("startLine", 0) < 1:
                    fail(f"{where}: region.startLine is not >= 1")
            if not res.get("partialFingerprints"):
                fail(f"{where}: no partialFingerprints")
        nres += len(run.get("results", []))
        nrules += len(rules)
    return nres, nrules


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    nres, nrules = check_structure(doc)
    if len(sys.argv) == 3:
        import jsonschema

        with open(sys.argv[2], encoding="utf-8") as f:
            schema = json.load(f)
        errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            fail(f"schema: at /{'/'.join(str(p) for p in e.path)}: {e.message}")
    print(f"ok: {nres} results, {nrules} rules{' (schema checked)' if len(sys.argv) == 3 else ''}")


if __name__ == "__main__":
    main()
