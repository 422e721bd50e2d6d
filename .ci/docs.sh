#!/usr/bin/env bash
# Build the docs site with mkdocs in strict mode (a broken link or anchor, a page missing from the nav, or a
# failing reference hook fails the build) into a throwaway folder. Needs perflab and its docs extra installed
# in the active environment: the hook imports perflab's schema to generate the profile reference.
set -euo pipefail
cd "$(dirname "$0")/.."
SITE="$(mktemp -d)"
trap 'rm -rf "$SITE"' EXIT
mkdocs build --strict --site-dir "$SITE"
test -s "$SITE/reference/index.html"
echo "docs: built, profile reference generated"
