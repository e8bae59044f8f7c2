#!/usr/bin/env python3
"""Validates an SBOM gsi wrote.

Usage: validate_sbom.py cyclonedx SBOM SCHEMA_DIR
       validate_sbom.py spdx SBOM [SCHEMA]

cyclonedx: SCHEMA_DIR holds CycloneDX's bom-1.5, spdx and jsf-0.82 schemas as the npm package
@cyclonedx/cyclonedx-library ships them (res/schema/*.SNAPSHOT.schema.json); the document is
validated against bom-1.5 (draft-07) with its two references resolved locally, then checked for
what the schema cannot say: unique bom-refs, and dependencies that name existing components.

spdx: with SCHEMA (the official SPDX 2.3 JSON schema), validated against it.  Always checked, from
the SPDX 2.3 specification: the document fields (spdxVersion, dataLicense CC0-1.0, SPDXID,
a documentNamespace URI without '#', creationInfo.created as YYYY-MM-DDThh:mm:ssZ, creators
"Tool: ..."), per package SPDXID (SPDXRef-[A-Za-z0-9.-]+, unique), name, downloadLocation,
filesAnalyzed, licence fields that are NOASSERTION, NONE, an expression or a LicenseRef that
hasExtractedLicensingInfos defines, purl external references, and relationships whose two ends
exist, one of them DESCRIBES.

Prints "ok: N components" or "ok: N packages, M relationships"; on failure prints the first
problem and exits 1.
"""

import json
import os
import re
import sys

import jsonschema


def fail(msg):
    print(f"invalid SBOM: {msg}", file=sys.stderr)
    sys.exit(1)


def cyclonedx(doc, schema_dir):
    def load(name):
        with open(os.path.join(schema_dir, name)) as f:
            return json.load(f)

    bom = load("bom-1.5.SNAPSHOT.schema.json")
    # bom-1.5 names its companions relative to its $id; they are served from SCHEMA_DIR, never fetched.
    base = bom["$id"].rsplit("/", 1)[0] + "/"
    local = {base + n: load(n) for n in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json")}
    try:
        import referencing
        import referencing.jsonschema

        def retrieve(uri):
            if uri not in local:
                raise referencing.exceptions.NoSuchResource(ref=uri)
            return referencing.Resource.from_contents(local[uri], default_specification=referencing.jsonschema.DRAFT7)

        validator = jsonschema.Draft7Validator(bom, registry=referencing.Registry(retrieve=retrieve))
    except ImportError:  # python3-jsonschema before 4.18 (Debian 12)
        resolver = jsonschema.RefResolver(base_uri=bom["$id"], referrer=bom, store=local)
        validator = jsonschema.Draft7Validator(bom, resolver=resolver)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        fail(f"schema: {errors[0].message} at {list(errors[0].absolute_path)} ({len(errors)} errors)")
    refs = [doc["metadata"]["component"]["bom-ref"]] + [c["bom-ref"] for c in doc.get("components", [])]
    if len(set(refs)) != len(refs):
        fail("bom-refs are not unique")
    for d in doc.get("dependencies", []):
        for r in [d["ref"]] + d.get("dependsOn", []):
            if r not in refs:
                fail(f"dependency names unknown bom-ref {r}")
    print(f"ok: {len(doc.get('components', []))} components (schema checked)")


ID = re.compile(r"^SPDXRef-[A-Za-z0-9.\-]+$")
CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
LICREF = re.compile(r"^LicenseRef-[A-Za-z0-9.\-]+$")
EXPR_TOKEN = re.compile(r"^[A-Za-z0-9.\-+]+$")


def license_ok(value, refs):
    if value in ("NOASSERTION", "NONE"):
        return True
    tokens = value.replace("(", " ").replace(")", " ").split()
    for t in tokens:
        if t in ("AND", "OR", "WITH"):
            continue
        if LICREF.match(t):
            if t not in refs:
                return False
        elif not EXPR_TOKEN.match(t):
            return False
    return bool(tokens)


def spdx(doc, schema_path):
    if schema_path:
        with open(schema_path) as f:
            schema = json.load(f)
        try:
            jsonschema.validators.validator_for(schema)(schema).validate(doc)
        except jsonschema.ValidationError as e:
            fail(f"schema: {e.message} at {list(e.absolute_path)}")
    for key, want in (("spdxVersion", "SPDX-2.3"), ("dataLicense", "CC0-1.0"), ("SPDXID", "SPDXRef-DOCUMENT")):
        if doc.get(key) != want:
            fail(f"{key} is {doc.get(key)!r}, not {want}")
    if not isinstance(doc.get("name"), str) or not doc["name"]:
        fail("no document name")
    ns = doc.get("documentNamespace", "")
    if not re.match(r"^[a-z][a-z0-9+.\-]*://[^\s#]+$", ns):
        fail(f"documentNamespace {ns!r} is no URI without '#'")
    ci = doc.get("creationInfo", {})
    if not CREATED.match(ci.get("created", "")):
        fail(f"creationInfo.created {ci.get('created')!r}")
    if not ci.get("creators") or not all(re.match(r"^(Tool|Organization|Person): .+", c) for c in ci["creators"]):
        fail("creationInfo.creators")
    refs = {e["licenseId"] for e in doc.get("hasExtractedLicensingInfos", [])}
    for e in doc.get("hasExtractedLicensingInfos", []):
        if not LICREF.match(e["licenseId"]) or not e.get("extractedText"):
            fail(f"extracted licence {e}")
    ids = {"SPDXRef-DOCUMENT"}
    for i, p in enumerate(doc.get("packages", [])):
        where = f"packages[{i}]"
        if not ID.match(p.get("SPDXID", "")) or p["SPDXID"] in ids:
            fail(f"{where}.SPDXID {p.get('SPDXID')!r} invalid or repeated")
        ids.add(p["SPDXID"])
        for key in ("name", "downloadLocation"):
            if not isinstance(p.get(key), str) or not p[key]:
                fail(f"{where}.{key} missing")
        if p.get("filesAnalyzed") is not False:
            fail(f"{where}.filesAnalyzed must be false (no files listed)")
        for key in ("licenseConcluded", "licenseDeclared"):
            if key in p and not license_ok(p[key], refs):
                fail(f"{where}.{key} {p[key]!r}")
        for r in p.get("externalRefs", []):
            if r.get("referenceCategory") not in ("PACKAGE-MANAGER", "PACKAGE_MANAGER", "SECURITY", "PERSISTENT-ID",
                                                  "PERSISTENT_ID", "OTHER"):
                fail(f"{where}: referenceCategory {r.get('referenceCategory')!r}")
            if r.get("referenceType") == "purl" and not r.get("referenceLocator", "").startswith("pkg:"):
                fail(f"{where}: purl {r.get('referenceLocator')!r}")
    rels = doc.get("relationships", [])
    for i, r in enumerate(rels):
        for key in ("spdxElementId", "relatedSpdxElement"):
            if r.get(key) not in ids:
                fail(f"relationships[{i}].{key} {r.get(key)!r} names nothing")
    if not any(r["relationshipType"] == "DESCRIBES" and r["spdxElementId"] == "SPDXRef-DOCUMENT" for r in rels):
        fail("nothing DESCRIBES the document's subject")
    print(f"ok: {len(doc.get('packages', []))} packages, {len(rels)} relationships" + (" (schema checked)" if schema_path else ""))


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("cyclonedx", "spdx"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[2]) as f:
        doc = json.load(f)
    if sys.argv[1] == "cyclonedx":
        cyclonedx(doc, sys.argv[3])
    else:
        spdx(doc, sys.argv[3] if len(sys.argv) > 3 else None)


if __name__ == "__main__":
    main()
