// Proves a front-end developer can generate a typed client from a live PORA gateway:
//   a. standard introspection (graphql-js) of the live endpoint equals the SDL that
//      `pora-gateway schema print --role …` prints, once both go through graphql-js's printer;
//   b. graphql-codegen (typescript + typescript-operations, strict scalars) generates types for
//      documents/police.graphql from the live URL with the token;
//   c. check.ts, which uses the generated types, type-checks with tsc --strict.
// Driven by a Rust test; prints one JSON line on stdout and exits 0 only if all three held.
//
// Environment: PORA_URL (the gateway's /graphql), PORA_TOKEN (a bearer token for the role),
// PORA_SDL_FILE (that role's SDL from `pora-gateway schema print --role <role>`);
// PORA_CHECK=introspection runs a. only.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
  validateSchema,
} from 'graphql';

const here = dirname(fileURLToPath(import.meta.url));
const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env('PORA_URL');
const token = env('PORA_TOKEN');
const sdlFile = env('PORA_SDL_FILE');

// Only the final JSON line goes to stdout; anything the tools log goes to stderr.
const out = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
console.log = console.info = console.error;

const errors = [];
const result = { introspectionMatchesSdl: false, diff: '', codegen: false, typecheck: false, errors };
const message = (e) =>
  e?.errors?.length ? e.errors.map((x) => x?.message ?? String(x)).join('; ') : String(e?.message ?? e);

// a. Introspection vs. the printed SDL.
try {
  const query = getIntrospectionQuery({
    descriptions: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    schemaDescription: true,
    inputValueDeprecation: true,
  });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await response.json();
  if (!response.ok || body.errors || !body.data) {
    throw new Error(`introspection: HTTP ${response.status} ${JSON.stringify(body.errors ?? body).slice(0, 500)}`);
  }
  const live = buildClientSchema(body.data);
  const printed = buildSchema(readFileSync(sdlFile, 'utf8'));
  for (const [name, schema] of [['introspection', live], ['sdl', printed]]) {
    for (const e of validateSchema(schema)) errors.push(`${name} schema invalid: ${e.message}`);
  }
  const a = printSchema(lexicographicSortSchema(printed));
  const b = printSchema(lexicographicSortSchema(live));
  result.introspectionMatchesSdl = a === b;
  if (a !== b) {
    result.diff = unifiedDiff(a.split('\n'), b.split('\n'));
    errors.push('introspection differs from the SDL file (see diff: - sdl, + introspection)');
  }
} catch (e) {
  errors.push(`introspection: ${message(e)}`);
}

// PORA_CHECK=introspection: only a. (for the roles without a document of their own).
if (process.env.PORA_CHECK === 'introspection') {
  out(JSON.stringify(result) + '\n');
  process.exit(result.introspectionMatchesSdl && errors.length === 0 ? 0 : 1);
}

// b. graphql-codegen against the live URL. typescript-operations 6 emits the enums, inputs and
// scalars its operations use, so it gets its own file; the typescript plugin's full schema types
// go next to it (enums as string unions in both, so the two agree).
const generatedDir = join(here, 'generated');
const scalars = {
  // strictScalars: a custom scalar without a mapping here fails generation instead of becoming any.
  strictScalars: true,
  // _Any is the federation entity-representation scalar (routers' `_entities`); the role schemas
  // carry it, so strict scalars need a mapping for it too.
  scalars: { DateTime: 'string', Date: 'string', RegionCode: 'string', _Any: 'unknown' },
};
try {
  rmSync(generatedDir, { recursive: true, force: true });
  mkdirSync(generatedDir, { recursive: true });
  const { generate } = await import('@graphql-codegen/cli');
  const files = await generate(
    {
      schema: [{ [url]: { headers: { Authorization: `Bearer ${token}` } } }],
      documents: [join(here, 'documents', 'police.graphql')],
      generates: {
        [join(generatedDir, 'graphql.ts')]: { plugins: ['typescript-operations'], config: { ...scalars } },
        [join(generatedDir, 'schema.ts')]: { plugins: ['typescript'], config: { ...scalars, enumsAsTypes: true } },
      },
      silent: true,
      errorsOnly: true,
    },
    true,
  );
  for (const name of ['graphql.ts', 'schema.ts']) readFileSync(join(generatedDir, name), 'utf8'); // written, or this throws
  result.codegen = files.length === 2;
  if (!result.codegen) errors.push(`codegen: ${files.length} files generated, expected 2`);
} catch (e) {
  errors.push(`codegen: ${message(e)}`);
}

// c. Type-check check.ts with the generated types.
if (result.codegen) {
  const tsc = spawnSync(join(here, 'node_modules', '.bin', 'tsc'), ['-p', join(here, 'tsconfig.json'), '--noEmit', '--strict'], {
    cwd: here,
    encoding: 'utf8',
    timeout: 120_000,
  });
  result.typecheck = tsc.status === 0;
  if (!result.typecheck) {
    errors.push(`typecheck: exit ${tsc.status ?? tsc.signal}: ${(tsc.stdout + tsc.stderr + (tsc.error ?? '')).trim().slice(0, 2000)}`);
  }
} else {
  errors.push('typecheck: skipped, nothing was generated');
}

out(JSON.stringify(result) + '\n');
process.exit(result.introspectionMatchesSdl && result.codegen && result.typecheck ? 0 : 1);

// A line diff (LCS) in unified style, the first few hunks with two lines of context.
function unifiedDiff(x, y, { context = 2, maxLines = 60 } = {}) {
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops = []; // [kind, line, xIndex, yIndex]
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) ops.push([' ', x[i], i++, j++]);
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push(['-', x[i], i++, j]);
    else ops.push(['+', y[j], i, j++]);
  }
  const lines = ['--- sdl', '+++ introspection'];
  let k = 0;
  while (k < ops.length && lines.length < maxLines) {
    while (k < ops.length && ops[k][0] === ' ') k++;
    if (k === ops.length) break;
    let start = Math.max(0, k - context);
    let end = k;
    // Extend the hunk while the next change is within 2*context unchanged lines.
    for (;;) {
      while (end < ops.length && ops[end][0] !== ' ') end++;
      let next = end;
      while (next < ops.length && ops[next][0] === ' ') next++;
      if (next < ops.length && next - end <= 2 * context) end = next;
      else break;
    }
    const stop = Math.min(ops.length, end + context);
    const hunk = ops.slice(start, stop);
    const xs = hunk.filter((o) => o[0] !== '+').length;
    const ys = hunk.filter((o) => o[0] !== '-').length;
    lines.push(`@@ -${ops[start][2] + 1},${xs} +${ops[start][3] + 1},${ys} @@`);
    for (const [kind, line] of hunk) lines.push(kind + line);
    k = stop;
  }
  if (k < ops.length && ops.slice(k).some((o) => o[0] !== ' ')) lines.push('… (more differences)');
  return lines.slice(0, maxLines).join('\n');
}
