#!/usr/bin/env bash
# Builds the self-contained GraphiQL bundle that PORA Gateway embeds and serves
# under /graphiql/. Output (committed, minified) goes to ../dist/:
#   graphiql.js, graphiql.css, editor.worker.js, json.worker.js, graphql.worker.js
# (dist/index.html is hand-written and not touched here.)
set -euo pipefail
cd "$(dirname "$0")"
DIST=../dist
npm ci --no-audit --no-fund
mkdir -p "$DIST"
rm -f "$DIST"/graphiql.js "$DIST"/graphiql.css "$DIST"/*.worker.js
ESBUILD=./node_modules/.bin/esbuild
COMMON=(--bundle --minify --legal-comments=none --target=es2020 --log-level=warning
        --define:process.env.NODE_ENV='"production"')

# Main bundle: one IIFE script (dynamic imports inlined) + one CSS file with the
# fonts inlined as data: URLs, so the page needs no other asset.
"$ESBUILD" main.jsx "${COMMON[@]}" --format=iife --jsx=automatic \
  --loader:.ttf=dataurl --loader:.woff=dataurl --loader:.woff2=dataurl \
  --outfile="$DIST"/graphiql.js

# Monaco editor workers, each a classic (non-module) worker script.
"$ESBUILD" "${COMMON[@]}" --format=iife --outdir="$DIST" --entry-names='[name]' \
  editor.worker=node_modules/monaco-editor/esm/vs/editor/editor.worker.js \
  json.worker=node_modules/monaco-editor/esm/vs/language/json/json.worker.js \
  graphql.worker=node_modules/monaco-graphql/esm/graphql.worker.js

# Fail if anything in the output points at another host at load time.
if grep -lE '(fonts\.googleapis|fonts\.gstatic|esm\.sh|unpkg\.com|cdn\.jsdelivr|cdnjs)' "$DIST"/*.js "$DIST"/*.css; then
  echo "build.sh: bundle references a CDN" >&2
  exit 1
fi
ls -l "$DIST"
