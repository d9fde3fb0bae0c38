#!/bin/sh
# Render report.html files in headless Chromium to PNG screenshots, laptop and phone width, so a
# person can look at them (layout, plots visible). The report must need no network: Chromium runs
# with background networking off, and the page has no external reference to fetch.
#
#   scripts/render_report_check.sh OUT_DIR REPORT.html [REPORT.html ...]
#
# Writes OUT_DIR/<parent dir name>-laptop.png (1280 px wide) and -phone.png (390 px wide); the
# page is cut at LAPTOP_HEIGHT (7000) and PHONE_HEIGHT (14000) pixels.
# Needs chromium (Debian: apt-get install -y chromium). tests/report/test_chromium.py does the
# same when chromium is present and checks the screenshots are not blank.
set -eu
if [ $# -lt 2 ]; then
    echo "usage: $0 OUT_DIR REPORT.html [REPORT.html ...]" >&2
    exit 2
fi
out=$1
shift
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "$0: no chromium found (Debian: apt-get install -y chromium)" >&2
    exit 2
fi
mkdir -p "$out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
for page in "$@"; do
    name=$(basename "$(dirname "$(realpath "$page")")")
    for size in laptop:1280,${LAPTOP_HEIGHT:-7000} phone:390,${PHONE_HEIGHT:-14000}; do
        label=${size%%:*}
        "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
            --no-first-run --hide-scrollbars --user-data-dir="$profile" \
            --screenshot="$out/$name-$label.png" --window-size="${size#*:}" \
            "file://$(realpath "$page")" >/dev/null 2>&1
        echo "$out/$name-$label.png"
    done
done
