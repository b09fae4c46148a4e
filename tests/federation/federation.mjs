// Composes the PORA gateway's SDL with a small second subgraph using Apollo's own composition
// library, then runs one query through a real federation gateway (@apollo/gateway) over both.
// Driven by tests/tests/federation.rs; prints one JSON object on stdout.
//
// Environment: PORA_URL (the gateway's /graphql), PORA_ROUTER_TOKEN (a router token: fetches the
// composed SDL and names the router on forwarded requests), PORA_AGENCY_TOKEN (the end user's
// token, forwarded in Authorization), PORA_PERSON_IDS (JSON array: persons the second subgraph
// refers to), PORA_QUERY (the query to run through the federation gateway).
import { composeServices } from '@apollo/composition';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, visit } from 'graphql';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const poraUrl = env('PORA_URL');
const routerToken = env('PORA_ROUTER_TOKEN');
const agencyToken = env('PORA_AGENCY_TOKEN');
const personIds = JSON.parse(env('PORA_PERSON_IDS'));
const query = env('PORA_QUERY');

// 1. The SDL a router reads from the gateway.
const service = await fetch(poraUrl, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${routerToken}` },
  body: JSON.stringify({ query: '{ _service { sdl } }' }),
});
const serviceBody = await service.json();
if (!serviceBody.data) {
  console.log(JSON.stringify({ stage: 'sdl', status: service.status, body: serviceBody }));
  process.exit(1);
}
const poraSdl = serviceBody.data._service.sdl;

// 2. A second subgraph: an IOM housing service that extends Person.
const housingSdl = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
  type Person @key(fields: "id") { id: ID! housingNote: String }
  type Housing { note: String! person: Person! }
  type Query { housings: [Housing!]! }
`;
const housing = new ApolloServer({
  schema: buildSubgraphSchema({
    typeDefs: parse(housingSdl),
    resolvers: {
      Query: {
        housings: () =>
          personIds.map((id, i) => ({ note: `unit ${i + 1}`, person: { id, housingNote: `housing of ${id}` } })),
      },
      Person: { __resolveReference: ({ id }) => ({ id, housingNote: `housing of ${id}` }) },
    },
  }),
});
const { url: housingUrl } = await startStandaloneServer(housing, { listen: { port: 0 } });

// 3. Composition with Apollo's rules.
const composed = composeServices([
  { name: 'pora', typeDefs: parse(poraSdl), url: poraUrl },
  { name: 'housing', typeDefs: parse(housingSdl), url: housingUrl },
]);
if (composed.errors) {
  console.log(JSON.stringify({ stage: 'composition', errors: composed.errors.map(String) }));
  await housing.stop();
  process.exit(1);
}
const hints = (composed.hints ?? []).map((h) => String(h.toString()));

// 4. A federation gateway over both subgraphs, forwarding the end user's token. @apollo/gateway
// refuses supergraphs with SECURITY features (only Apollo Router enforces @authenticated and
// @requiresScopes), so it runs over a composition of the same SDL without them; the gateway
// enforces the same boundary itself on every request.
const security = new Set(['authenticated', 'requiresScopes']);
const withoutSecurity = visit(parse(poraSdl), {
  Directive: (node) => (security.has(node.name.value) ? null : undefined),
  StringValue: (node) => (security.has(node.value.replace(/^@/, '')) ? null : undefined),
});
const executable = composeServices([
  { name: 'pora', typeDefs: withoutSecurity, url: poraUrl },
  { name: 'housing', typeDefs: parse(housingSdl), url: housingUrl },
]);
if (executable.errors) {
  console.log(JSON.stringify({ stage: 'composition', errors: executable.errors.map(String) }));
  await housing.stop();
  process.exit(1);
}
const gateway = new ApolloGateway({
  supergraphSdl: executable.supergraphSdl,
  buildService: ({ url }) =>
    new RemoteGraphQLDataSource({
      url,
      willSendRequest({ request, context }) {
        request.http.headers.set('authorization', context.authorization);
        request.http.headers.set('x-pora-router-token', routerToken);
      },
    }),
});
const server = new ApolloServer({ gateway });
await server.start();
const response = await server.executeOperation(
  { query },
  { contextValue: { authorization: `Bearer ${agencyToken}` } },
);
const result = response.body.kind === 'single' ? response.body.singleResult : null;
await server.stop();
await housing.stop();
console.log(JSON.stringify({ stage: 'done', hints, result }));
