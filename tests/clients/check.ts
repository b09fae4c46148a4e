// Type-checked by clients.mjs (tsc --noEmit --strict) against generated/graphql.ts
// (typescript-operations: documents/police.graphql) and generated/schema.ts (typescript: the
// whole police schema), which graphql-codegen writes from the live endpoint.
import type { IncidentsPageQuery, IncidentsPageQueryVariables } from './generated/graphql';
import type { IncidentKind as SchemaIncidentKind, Scalars } from './generated/schema';

type Incident = IncidentsPageQuery['incidents']['nodes'][number];
// Exact type equality (fails for any/unknown as well as for a wrong type).
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
export type Checks = [
  Assert<Equal<Incident['occurredAt'], string>>,
  Assert<Equal<Incident['region'], string>>,
  Assert<Equal<Incident['id'], string>>,
  Assert<Equal<Incident['headcount'], number | null>>,
  // Both plugins agree on enums (string unions) and scalars.
  Assert<Equal<Incident['kind'], SchemaIncidentKind>>,
  Assert<Equal<Scalars['DateTime']['output'], string>>,
];

// DateTime is mapped to string, so string methods type-check on occurredAt.
export function occurredAtUpper(data: IncidentsPageQuery): string[] {
  return data.incidents.nodes.map((n) => n.occurredAt.toUpperCase());
}

// RegionCode is a string too; headcount is a nullable Int.
export function regions(data: IncidentsPageQuery): Array<[string, number | null | undefined]> {
  return data.incidents.nodes.map((n) => [n.region, n.headcount]);
}

// Paging: the next page's variables come from pageInfo.endCursor.
export function nextPage(data: IncidentsPageQuery): IncidentsPageQueryVariables | null {
  const { hasNextPage, endCursor } = data.incidents.pageInfo;
  return hasNextPage ? { first: 20, after: endCursor } : null;
}

export function who(data: IncidentsPageQuery): string {
  return `${data.viewer.role} ${data.viewer.agency}`;
}

// A field the police role does not have (and the document does not select) is a type error.
export function religion(data: IncidentsPageQuery): unknown {
  // @ts-expect-error police cannot read religion; the generated type has no such field
  return data.incidents.nodes[0].religion;
}
