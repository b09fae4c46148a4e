// Runs Hive Gateway in front of a live PORA gateway the way docs/federation.md ("Routers") says
// to: one router per agency, on a contract supergraph composed from that agency's subgraph SDL
// alone (`pora-gateway schema print --federation --role R`), with introspection off, forwarding
// the caller's Authorization. Shows that neither an anonymous caller nor the agency itself can
// list (introspection, _service, "Did you mean" suggestions) or read a field outside the role's
// schema through the router, and that the router really forwards (an allowed query answers, as
// the agency). As a control, a router over the all-roles composed SDL with introspection on does
// list the field: the risk the documentation warns of.
// Prints one JSON object on stdout; exits 0 only when the contract router passes.
//
// Environment: PORA_URL (the gateway's /graphql), PORA_SDL_FILE (one role's subgraph SDL),
// PORA_POLICE_TOKEN (that role's agency token, police), PORA_HIDDEN_FIELD (a field that role lacks,
// e.g. religion), PORA_HIDDEN_TYPE (its type, e.g. Person); optional: PORA_COMPOSED_SDL_FILE (the
// all-roles composed SDL, for the control), PORA_ROUTER_TOKEN (a router token, sent in
// x-pora-router-token so the audit names the router), PORA_HIVE_LOG=1 (the gateway's own logs).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';
import { composeServices } from '@theguild/federation-composition';
import { getIntrospectionQuery, parse } from 'graphql';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const poraUrl = env('PORA_URL');
const sdlFile = env('PORA_SDL_FILE');
const policeToken = env('PORA_POLICE_TOKEN');
const hiddenField = env('PORA_HIDDEN_FIELD');
const hiddenType = env('PORA_HIDDEN_TYPE');
const composedSdlFile = process.env.PORA_COMPOSED_SDL_FILE;
const routerToken = process.env.PORA_ROUTER_TOKEN;

const errors = [];
const servers = [];
const finish = async (report, ok) => {
  for (const { server, gateway } of servers) {
    await new Promise((resolve) => server.close(resolve));
    await gateway.dispose?.();
  }
  console.log(JSON.stringify({ ...report, errors }));
  process.exit(ok ? 0 : 1);
};

// 1. Composition of one subgraph, named `pora`, at the gateway's URL. Errors fail loudly.
const compose = (file) => {
  const composed = composeServices([{ name: 'pora', typeDefs: parse(readFileSync(file, 'utf8')), url: poraUrl }]);
  if (composed.errors?.length) {
    throw new Error(`composition of ${file} failed: ${composed.errors.map(String).join('; ')}`);
  }
  return composed.supergraphSdl;
};

// 2. Hive Gateway in-process, configured as docs/federation.md says.
const startRouter = async ({ supergraph, introspection }) => {
  const gateway = createGatewayRuntime({
    supergraph,
    logging: process.env.PORA_HIVE_LOG ? 'debug' : false,
    landingPage: false,
    graphiql: false,
    // Introspection off for every caller (the supported option; it is useDisableIntrospection).
    disableIntrospection: introspection ? undefined : { disableIf: () => true },
    // The agency's token stays in Authorization; the router names itself if it has a token.
    propagateHeaders: {
      fromClientToSubgraphs: ({ request }) => ({
        authorization: request.headers.get('authorization'),
        ...(routerToken ? { 'x-pora-router-token': routerToken } : {}),
      }),
    },
  });
  const server = createServer(gateway);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ server, gateway });
  return `http://127.0.0.1:${server.address().port}/graphql`;
};

const post = async (url, token, query) => {
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query }) });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: { raw: text } };
  }
};

// Does an introspection answer name the field anywhere in its data?
const lists = (data, name) => {
  let found = false;
  JSON.stringify(data ?? null, (key, value) => {
    if (key === 'name' && value === name) found = true;
    return value;
  });
  return found;
};
// Did any value come back under the field's name?
const returns = (data, name) => {
  let found = false;
  JSON.stringify(data ?? null, (key, value) => {
    if (key === name && value !== undefined) found = true;
    return value;
  });
  return found;
};

const lowerFirst = (s) => s[0].toLowerCase() + s.slice(1);
const listField = `${lowerFirst(hiddenType)}s`; // Person -> persons
const singleField = lowerFirst(hiddenType); // Person -> person
const introspectionQueries = {
  standard: getIntrospectionQuery(),
  type: `{ __type(name: ${JSON.stringify(hiddenType)}) { fields { name } } }`,
  service: '{ _service { sdl } }',
  // With introspection off, a misspelt field still draws "Did you mean ...?" from validation:
  // over a schema that has the hidden field, that names it.
  suggestion: `{ ${singleField}(id: "00000000-0000-0000-0000-000000000000") { id ${hiddenField.slice(0, -1)} } }`,
};
const hiddenQueries = {
  list: `{ ${listField}(first: 1) { nodes { id ${hiddenField} } } }`,
  single: `{ ${singleField}(id: "00000000-0000-0000-0000-000000000000") { id ${hiddenField} } }`,
};

const report = {
  introspectionListsHidden: { anonymous: null, police: null },
  queryReturnsHidden: { anonymous: null, police: null },
  allowedQueryWorks: false,
  composedLeaksWithIntrospection: null,
};

try {
  const contractUrl = await startRouter({ supergraph: compose(sdlFile), introspection: false });
  const callers = { anonymous: undefined, police: policeToken };

  for (const [caller, token] of Object.entries(callers)) {
    // 3a. Introspection through the contract router.
    let listed = false;
    for (const [name, query] of Object.entries(introspectionQueries)) {
      const { status, body } = await post(contractUrl, token, query);
      const suggested = (body.errors ?? []).some((e) => String(e.message).includes(`"${hiddenField}"`));
      if (lists(body.data, hiddenField) || suggested || (name === 'service' && body.data?._service)) {
        listed = true;
        errors.push(`${caller}: ${name} introspection through the router answered (HTTP ${status})`);
      } else if (!body.errors?.length) {
        listed = true;
        errors.push(`${caller}: ${name} introspection was not refused: ${JSON.stringify(body).slice(0, 300)}`);
      }
    }
    report.introspectionListsHidden[caller] = listed;

    // 3b. A query selecting the hidden field: an error, and no data for it.
    let returned = false;
    for (const [name, query] of Object.entries(hiddenQueries)) {
      const { status, body } = await post(contractUrl, token, query);
      if (returns(body.data, hiddenField)) {
        returned = true;
        errors.push(`${caller}: ${name} query returned ${hiddenField} (HTTP ${status})`);
      } else if (!body.errors?.length) {
        returned = true;
        errors.push(`${caller}: ${name} query for ${hiddenField} was not refused: ${JSON.stringify(body).slice(0, 300)}`);
      }
    }
    report.queryReturnsHidden[caller] = returned;
  }

  // 3c. An allowed query, as police, answers through the router: it really forwards the token.
  {
    const { status, body } = await post(contractUrl, policeToken, '{ viewer { role } incidents(first: 1) { nodes { id } } }');
    const role = body.data?.viewer?.role;
    report.allowedQueryWorks = role === 'police' && Array.isArray(body.data?.incidents?.nodes) && !body.errors;
    if (!report.allowedQueryWorks) {
      errors.push(`police: allowed query failed (HTTP ${status}): ${JSON.stringify(body).slice(0, 500)}`);
    }
    // Without a token the same query reaches the gateway without one and is refused there.
    const anonymous = await post(contractUrl, undefined, '{ viewer { role } }');
    if (anonymous.body.data?.viewer) {
      report.allowedQueryWorks = false;
      errors.push(`anonymous: viewer answered through the router: ${JSON.stringify(anonymous.body)}`);
    }
  }

  // 4. Control: the all-roles composed SDL behind a router with introspection on lists the field
  // to anyone, without a token.
  if (composedSdlFile) {
    const composedUrl = await startRouter({ supergraph: compose(composedSdlFile), introspection: true });
    const standard = await post(composedUrl, undefined, introspectionQueries.standard);
    const type = await post(composedUrl, undefined, introspectionQueries.type);
    report.composedLeaksWithIntrospection = lists(standard.body.data, hiddenField) || lists(type.body.data, hiddenField);
  }
} catch (error) {
  errors.push(String(error?.stack ?? error));
}

const ok =
  errors.length === 0 &&
  Object.values(report.introspectionListsHidden).every((v) => v === false) &&
  Object.values(report.queryReturnsHidden).every((v) => v === false) &&
  report.allowedQueryWorks === true;
await finish(report, ok);
