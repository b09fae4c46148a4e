// PORA Gateway GraphiQL IDE entry point.
//
// Bundled by build.sh (esbuild) into ../dist/graphiql.js + ../dist/graphiql.css,
// with the Monaco editor workers as separate files in ../dist/. Everything is
// served by the gateway itself under /graphiql/: the page makes no request to
// any other host (no CDN, no web fonts, no telemetry).
//
// The page (dist/index.html) only needs an element with id "graphiql"; this
// script mounts the IDE into it. No inline script is needed, so the page works
// under a `script-src 'self'` Content-Security-Policy.

import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createRoot } from 'react-dom/client';
import './style.css';

// Directory this script was loaded from (normally "/graphiql/"); the worker
// files sit beside it.
const scriptBase = (() => {
  const src = document.currentScript && document.currentScript.src;
  return src ? new URL('./', src).href : new URL('/graphiql/', location.href).href;
})();

// Monaco runs its language services in web workers. They are bundled next to
// this file, so nothing is fetched from a CDN.
globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    switch (label) {
      case 'json':
        return new Worker(new URL('json.worker.js', scriptBase), { name: label });
      case 'graphql':
        return new Worker(new URL('graphql.worker.js', scriptBase), { name: label });
      default:
        return new Worker(new URL('editor.worker.js', scriptBase), { name: label });
    }
  },
};

const DEFAULT_HEADERS = '{"Authorization": "Bearer <paste a token here>"}';

const DEFAULT_QUERY = `# PORA Gateway — GraphiQL
#
# 1. Open the "Headers" tab below and paste your token in place of
#    <paste a token here>:  {"Authorization": "Bearer eyJ..."}
#    (headers stay in this page: they are not saved and never go in the URL)
# 2. Run the query below with the ▶ button (or Ctrl-Enter).

{ viewer { role agency } }
`;

// GraphiQL keeps tabs and the query history (graphiql:queries, graphiql:favorites) in
// localStorage. shouldPersistHeaders=false keeps headers out of the tab state, but the
// history plugin stores each run's headers regardless, so a bearer token would outlive
// the page. This storage drops every "headers" value (sets it to null, the shape
// GraphiQL itself writes) before anything reaches localStorage.
function scrubHeaders(value) {
  if (Array.isArray(value)) return value.map(scrubHeaders);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = k === 'headers' ? null : scrubHeaders(v);
    return out;
  }
  return value;
}

const NAMESPACE = 'graphiql:';
const headerFreeStorage = {
  getItem: (key) => localStorage.getItem(key),
  setItem(key, value) {
    let safe = value;
    try {
      safe = JSON.stringify(scrubHeaders(JSON.parse(value)));
    } catch {
      // not JSON: stored as it is
    }
    localStorage.setItem(key, safe);
  },
  removeItem: (key) => localStorage.removeItem(key),
  key: (i) => localStorage.key(i),
  get length() {
    return Object.keys(localStorage).filter((k) => k.startsWith(NAMESPACE)).length;
  },
  clear() {
    for (const k of Object.keys(localStorage)) if (k.startsWith(NAMESPACE)) localStorage.removeItem(k);
  },
};

function safeStorage() {
  try {
    localStorage.getItem(NAMESPACE); // throws where storage is disabled
    return headerFreeStorage;
  } catch {
    return undefined;
  }
}

function mount() {
  const container = document.getElementById('graphiql');
  if (!container) return;
  const endpoint = new URL(container.dataset.endpoint || '/graphql', location.href).href;
  // createGraphiQLFetcher merges the headers typed in the Headers pane into
  // every request. Same-origin POST only: no subscriptions URL, no other host.
  const fetcher = createGraphiQLFetcher({ url: endpoint });
  createRoot(container).render(
    <GraphiQL
      fetcher={fetcher}
      defaultQuery={DEFAULT_QUERY}
      defaultHeaders={DEFAULT_HEADERS}
      initialHeaders={DEFAULT_HEADERS}
      shouldPersistHeaders={false}
      storage={safeStorage()}
      isHeadersEditorEnabled={true}
      defaultEditorToolsVisibility="headers"
    />,
  );
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', mount);
} else {
  mount();
}
