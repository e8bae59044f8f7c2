# What sbom-bench.sh and scan-bench.sh share, sourced after they set: name (for messages), build,
# store, ref and tmp.  Each function exits the script on a problem, with a message.

# Builds a release gsi without sanitizers (they would measure themselves) and sets gsi.
bench_build_gsi ()
{
  if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dbuildtype=release -Db_sanitize=none >/dev/null
  fi
  ninja -C "$build" src/cli/gsi >/dev/null
  gsi="$build/src/cli/gsi"
}

# With BENCH_COPY_STORE=1, points store at a hardlinked copy of its blobs (plus oci-layout and
# index.json) in tmp, so the runs write their inventory entries there and not in the store given.
# Call it before gsi opens the store at all: opening creates gsi-private's directories.
bench_copy_store ()
{
  [ "${BENCH_COPY_STORE:-}" = 1 ] || return 0
  local f
  for f in oci-layout index.json blobs/sha256; do
    [ -e "$store/$f" ] || { echo "$name: $store is not an OCI layout (no $f)" >&2; exit 1; }
  done
  mkdir "$tmp/store"
  if ! cp -al "$store/blobs" "$tmp/store/blobs"; then
    echo "$name: cannot hardlink $store/blobs into $tmp (BENCH_TMP must be on the store's filesystem)" >&2
    exit 1
  fi
  cp "$store/oci-layout" "$store/index.json" "$tmp/store/"
  echo "store: a hardlinked copy of $store in $tmp/store"
  store=$tmp/store
}

# Checks that ref is in the store (its inspect output goes to tmp/inspect.json) and sets entries to
# the paths of its layers' inventory entries; drop_entries removes them (a cold run).  $1 is added
# to the not-found message.
bench_image_entries ()
{
  if ! "$gsi" --root "$store" inspect "$ref" >"$tmp/inspect.json" 2>/dev/null; then
    echo "$name: $ref is not in the store $store$1" >&2
    exit 1
  fi
  mapfile -t entries < <(python3 -c '
import json, sys
for l in json.load(open(sys.argv[1]))["manifest"]["layers"]:
    print(sys.argv[2] + "/gsi-private/inventory/" + l["digest"].split(":", 1)[1])' "$tmp/inspect.json" "$store")
}

drop_entries () { rm -f "${entries[@]}"; }
