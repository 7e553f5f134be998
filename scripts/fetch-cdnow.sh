#!/usr/bin/env bash
# Fetches the real CDNOW transaction logs the way a user could: from the `lifetimes` 0.11.3 wheel
# on PyPI (MIT), which ships them under lifetimes/datasets/. Idempotent.
#
#   scripts/fetch-cdnow.sh [DIR]     (default: $SEGMINT_CDNOW_DIR or ~/.cache/segmint/cdnow)
set -euo pipefail
dir="${1:-${SEGMINT_CDNOW_DIR:-$HOME/.cache/segmint/cdnow}}"
if [ -s "$dir/CDNOW_master.txt" ] && [ -s "$dir/CDNOW_sample.txt" ]; then
  exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check lifetimes==0.11.3 -d "$tmp" >&2
python3 - "$tmp" "$dir" <<'PY'
import glob, os, sys, zipfile
tmp, out = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "[Ll]ifetimes-0.11.3-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("lifetimes/datasets/") and not name.endswith("/"):
            target = os.path.join(out, os.path.basename(name))
            with z.open(name) as src, open(target + ".part", "wb") as dst:
                dst.write(src.read())
            os.replace(target + ".part", target)
PY
echo "CDNOW data in $dir" >&2
