#!/usr/bin/env python3
"""Validates an image of a gsi store against the OCI image-spec JSON schemas.

Usage: validate_oci.py SCHEMA_DIR STORE REF

SCHEMA_DIR is the image-spec's schema/ folder (image-index-schema.json, image-manifest-schema.json,
config-schema.json, image-layout-schema.json and the defs*.json / content-descriptor.json files
they $ref).  Checks, in order: STORE/oci-layout, STORE/index.json, the manifest the index entry
whose org.opencontainers.image.ref.name is REF points at, and that manifest's config.  Every
document is also checked against the digest and size its descriptor gives.  Prints one "ok" line
per document; on the first failure prints what failed and exits 1.

The schemas are draft-04 and name each other by relative $ref ("defs.json#/...") under ids such as
https://opencontainers.org/schema/image/config, and nested "id"s move the base URI around; so every
https://opencontainers.org/ URI is served by the local file of the same base name, whatever folder
the resolution ended in.  Works with python3-jsonschema 4.10 (Debian 12: RefResolver) and newer
releases (the referencing registry).
"""

import hashlib
import json
import os
import sys
import warnings

import jsonschema

SCHEMA_HOST = "https://opencontainers.org/"


def load_local(schema_dir, uri):
    """The local schema file a schema URI names, by its last path component."""
    if not uri.startswith(SCHEMA_HOST):
        raise LookupError(f"schema reference outside the image-spec: {uri}")
    name = uri.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if not name.endswith(".json"):
        name += ".json"
    path = os.path.join(schema_dir, name)
    if not os.path.exists(path):
        # Ids of top-level schemas ("image/config") are not file names: map the known ones.
        aliases = {"config.json": "config-schema.json", "index.json": "image-index-schema.json",
                   "manifest.json": "image-manifest-schema.json", "descriptor.json": "content-descriptor.json",
                   "layout.json": "image-layout-schema.json"}
        path = os.path.join(schema_dir, aliases.get(name, name))
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def make_validator(schema_dir, schema_file):
    with open(os.path.join(schema_dir, schema_file), encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.Draft4Validator
    try:
        import referencing
        import referencing.jsonschema

        def retrieve(uri):
            return referencing.Resource.from_contents(load_local(schema_dir, uri),
                                                      default_specification=referencing.jsonschema.DRAFT4)

        return cls(schema, registry=referencing.Registry(retrieve=retrieve))
    except ImportError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        resolver = jsonschema.RefResolver.from_schema(
            schema, handlers={"https": lambda uri: load_local(schema_dir, uri)})
        return cls(schema, resolver=resolver)


def fail(msg):
    print(f"validate_oci: {msg}", file=sys.stderr)
    sys.exit(1)


def check(schema_dir, schema_file, what, doc):
    errors = sorted(make_validator(schema_dir, schema_file).iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        for e in errors:
            print(f"validate_oci: {what}: at /{'/'.join(str(p) for p in e.path)}: {e.message}", file=sys.stderr)
        fail(f"{what} does not validate against {schema_file}")
    print(f"ok {what} ({schema_file})")


def read_blob(store, desc, what):
    algo, _, hexd = desc["digest"].partition(":")
    if algo != "sha256":
        fail(f"{what}: unexpected digest algorithm in {desc['digest']}")
    with open(os.path.join(store, "blobs", "sha256", hexd), "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != hexd:
        fail(f"{what}: blob content does not match {desc['digest']}")
    if len(data) != desc["size"]:
        fail(f"{what}: blob is {len(data)} bytes, descriptor says {desc['size']}")
    return json.loads(data)


def main(argv):
    if len(argv) != 4:
        fail("usage: validate_oci.py SCHEMA_DIR STORE REF")
    schema_dir, store, ref = argv[1:]
    with open(os.path.join(store, "oci-layout"), encoding="utf-8") as f:
        check(schema_dir, "image-layout-schema.json", "oci-layout", json.load(f))
    with open(os.path.join(store, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    check(schema_dir, "image-index-schema.json", "index.json", index)
    entries = [m for m in index.get("manifests", [])
               if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
    if len(entries) != 1:
        fail(f"expected one index.json entry with ref.name `{ref}`, found {len(entries)}")
    desc = entries[0]
    if desc["mediaType"] != "application/vnd.oci.image.manifest.v1+json":
        fail(f"`{ref}` is a {desc['mediaType']}, not an image manifest")
    manifest = read_blob(store, desc, "manifest")
    check(schema_dir, "image-manifest-schema.json", f"manifest {desc['digest']}", manifest)
    config = read_blob(store, manifest["config"], "config")
    check(schema_dir, "config-schema.json", f"config {manifest['config']['digest']}", config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
