//! Apollo Federation v2: entity keys and `_entities` for a role's schema, and the composed
//! router SDL.
//!
//! Each role's schema is a subgraph schema of its own: its entity types carry `@key` only for
//! key fields the role reads, and `_entities` resolves representations through the same engine
//! as every other root field, so the role's fields and row filters apply unchanged.
//!
//! Routers compose a supergraph from one SDL, which must hold every role's part. `router_sdl`
//! merges what the per-role schemas actually expose (their registries, not the policy file) and
//! marks each coordinate with the roles that have it: `@requiresScopes(scopes: [["role:…"]])`,
//! or `@authenticated` where every role has it. It is derived from the built schemas, so the
//! directives cannot drift from what the gateway enforces itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, Object, ResolverContext, Schema, SchemaError, TypeRef,
};
use async_graphql::registry::{MetaInputValue, MetaType, Registry};
use indexmap::IndexMap;

use crate::catalogue::FieldKind;
use crate::error::QueryError;
use crate::policy::{Access, TypeView};
use crate::resolve::engine;
use crate::sql::Sql;

/// The federation version the SDL links to: the first with `@requiresScopes` and
/// `@authenticated`.
pub const FEDERATION_SPEC: &str = "https://specs.apollo.dev/federation/v2.5";

/// Keys besides `id`, for types that other systems know by another identifier.
const ALTERNATE_KEYS: &[(&str, &str)] = &[("Case", "unhcrCaseNumber")];

/// Most representations one `_entities` call may name (a router batches per subgraph call).
pub const MAX_REPRESENTATIONS: usize = 1_000;

/// The prefix of the scope a router checks for a role (`role:unhcr`); the gateway's tokens
/// carry it in their `scope` claim.
pub const ROLE_SCOPE_PREFIX: &str = "role:";

/// A key of an entity type for one role: its GraphQL field and the column behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityKey {
    pub field: &'static str,
    pub column: &'static str,
}

/// The keys of `view` in this role's schema: `id` and any alternate key, each only when the
/// role reads that field in full (a key must be a field of the type).
pub fn entity_keys(view: &TypeView) -> Vec<EntityKey> {
    let alternates = ALTERNATE_KEYS
        .iter()
        .filter(|(t, _)| *t == view.def.name)
        .map(|(_, f)| *f);
    std::iter::once("id")
        .chain(alternates)
        .filter_map(|name| {
            let field = view.field(name)?;
            match (field.access, field.def.kind) {
                (Access::Full, FieldKind::Column { column, .. }) => Some(EntityKey {
                    field: field.def.name,
                    column,
                }),
                _ => None,
            }
        })
        .collect()
}

/// One representation, understood: which type, by which key, which value.
struct Wanted {
    type_name: &'static str,
    key: EntityKey,
    value: String,
}

/// Reads one representation. A `__typename` the role does not have fails exactly like one
/// that does not exist.
fn wanted(
    engine: &crate::Engine,
    item: async_graphql::dynamic::ValueAccessor<'_>,
) -> Result<Wanted, QueryError> {
    let object = item
        .object()
        .map_err(|_| QueryError::BadInput("a representation must be an object".into()))?;
    let type_name = object
        .get("__typename")
        .and_then(|v| v.string().ok())
        .ok_or_else(|| QueryError::BadInput("a representation needs a `__typename`".into()))?;
    let view = engine
        .role
        .types
        .get(type_name)
        .filter(|v| !entity_keys(v).is_empty())
        .ok_or_else(|| QueryError::BadInput(format!("unknown entity type \"{type_name}\"")))?;
    for key in entity_keys(view) {
        if let Some(value) = object.get(key.field).filter(|v| !v.is_null()) {
            let value = match value.as_value() {
                async_graphql::Value::String(s) => s.clone(),
                async_graphql::Value::Number(n) => n.to_string(),
                _ => {
                    return Err(QueryError::BadInput(format!(
                        "key `{}` of \"{type_name}\" must be a string",
                        key.field
                    )));
                }
            };
            return Ok(Wanted {
                type_name: view.def.name,
                key,
                value,
            });
        }
    }
    Err(QueryError::BadInput(format!(
        "a representation of \"{type_name}\" needs one of its keys"
    )))
}

/// Positions of `_entities` answers that must be `null`, per response key: async-graphql's
/// dynamic schemas cannot put a null into a list of union members, so the resolver notes the
/// gaps here and `EntityGapsExtension` answers `null` for them without resolving them.
#[derive(Debug, Default)]
pub(crate) struct EntityGaps(
    std::sync::Mutex<BTreeSet<(String, usize)>>,
    std::sync::Mutex<BTreeSet<String>>,
);

/// Gives each request its `EntityGaps`, and answers `null` at the positions noted there.
pub(crate) struct EntityGapsExtension;

impl async_graphql::extensions::ExtensionFactory for EntityGapsExtension {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(EntityGapsExtension)
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for EntityGapsExtension {
    async fn prepare_request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> async_graphql::ServerResult<async_graphql::Request> {
        let request = request.data(std::sync::Arc::new(EntityGaps::default()));
        next.run(ctx, request).await
    }

    async fn resolve(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        info: async_graphql::extensions::ResolveInfo<'_>,
        next: async_graphql::extensions::NextResolve<'_>,
    ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
        use async_graphql::QueryPathSegment::{Index, Name};
        if info.parent_type == "[_Entity]"
            && let Index(index) = info.path_node.segment
            && let Some(Name(key)) = info.path_node.parent.map(|p| p.segment)
            && let Some(gaps) = ctx.data_opt::<std::sync::Arc<EntityGaps>>()
            && gaps
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&(key.to_owned(), index))
        {
            return Ok(None);
        }
        next.run(ctx, info).await
    }
}

/// `Query._entities`: representations → rows, in order; `null` where the row does not exist
/// or lies outside the role's row filter. One statement per (type, key) in the batch.
pub(crate) fn resolve_entities(ctx: ResolverContext<'_>) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        let engine = engine(&ctx)?;
        let response_key = ctx.item.node.response_key().node.to_string();
        let gaps = ctx.data::<std::sync::Arc<EntityGaps>>()?.clone();
        let result: Result<Vec<FieldValue>, QueryError> = async {
            // Gaps are kept per response key: two `_entities` under one key (merged by the
            // executor) would mix their answers.
            if !gaps
                .1
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(response_key.clone())
            {
                return Err(QueryError::BadInput(
                    "each `_entities` selection needs its own alias".into(),
                ));
            }
            let representations = ctx
                .args
                .try_get("representations")
                .and_then(|v| v.list())
                .map_err(|_| QueryError::BadInput("`representations` must be a list".into()))?;
            if representations.len() > MAX_REPRESENTATIONS {
                return Err(QueryError::BadInput(format!(
                    "at most {MAX_REPRESENTATIONS} representations per request"
                )));
            }
            let wanted = representations
                .iter()
                .map(|item| wanted(&engine, item))
                .collect::<Result<Vec<_>, _>>()?;
            let mut batches: BTreeMap<(&'static str, &'static str), BTreeSet<&str>> =
                BTreeMap::new();
            for w in &wanted {
                batches
                    .entry((w.type_name, w.key.column))
                    .or_default()
                    .insert(&w.value);
            }
            // `None`: the key matched several rows (a non-unique key), which resolves to null.
            let mut found: HashMap<(&'static str, &'static str, String), Option<crate::row::Row>> =
                HashMap::new();
            for ((type_name, column), values) in batches {
                let mut condition = Sql::new(format!("t.{column} IN ("));
                for (i, value) in values.into_iter().enumerate() {
                    if i > 0 {
                        condition.push(", ");
                    }
                    condition.bind(value.to_owned());
                }
                condition.push(")");
                for row in engine
                    .fetch_also(type_name, condition, Sql::default(), &[column])
                    .await?
                {
                    if let Some(value) = row.key(column) {
                        found
                            .entry((type_name, column, value))
                            .and_modify(|seen| *seen = None)
                            .or_insert(Some(row));
                    }
                }
            }
            let mut gaps = gaps.0.lock().unwrap_or_else(|e| e.into_inner());
            Ok(wanted
                .into_iter()
                .enumerate()
                .map(|(index, w)| {
                    match found.get(&(w.type_name, w.key.column, w.value)) {
                        Some(Some(row)) => {
                            // Audited even when only `__typename` is asked: the answer tells
                            // the row exists for this role.
                            let person_column = engine
                                .role
                                .types
                                .get(w.type_name)
                                .and_then(|v| v.def.person_column);
                            crate::resolve::note_row(&ctx, w.type_name, person_column, row);
                            FieldValue::owned_any(row.clone()).with_type(w.type_name)
                        }
                        _ => {
                            gaps.insert((response_key.clone(), index));
                            FieldValue::owned_any(()).with_type(w.type_name)
                        }
                    }
                })
                .collect())
        }
        .await;
        result
            .map(|values| Some(FieldValue::list(values)))
            .map_err(|e| e.to_graphql(&engine.request_id))
    })
}

/// The schema a router's own token gets: `_service { sdl }` answering the composed SDL, and
/// nothing else (a router reads no case data with its own credentials).
pub fn router_schema(sdl: String) -> Result<Schema, SchemaError> {
    let sdl = std::sync::Arc::new(sdl);
    let service = Object::new("_Service").field(Field::new(
        "sdl",
        TypeRef::named_nn(TypeRef::STRING),
        |ctx| {
            FieldFuture::new(async move {
                let sdl = ctx
                    .parent_value
                    .try_downcast_ref::<std::sync::Arc<String>>()?;
                Ok(Some(FieldValue::value(sdl.as_str())))
            })
        },
    ));
    let query = Object::new("Query").field(Field::new(
        "_service",
        TypeRef::named_nn("_Service"),
        move |_| {
            let sdl = sdl.clone();
            FieldFuture::new(async move { Ok(Some(FieldValue::owned_any(sdl))) })
        },
    ));
    Schema::build("Query", None, None)
        .disable_suggestions()
        .disable_introspection()
        .register(service)
        .register(query)
        .finish()
}

/// Types every schema has, or that composition adds itself.
fn is_builtin(name: &str) -> bool {
    name.starts_with("__")
        || matches!(
            name,
            "Int" | "Float" | "String" | "Boolean" | "ID" | "_Any" | "_Entity" | "_Service"
        )
}

/// A type of the composed SDL: the union of what the roles expose, with who exposes what.
enum Merged {
    Object {
        description: Option<String>,
        keys: Vec<String>,
        roles: BTreeSet<String>,
        fields: IndexMap<String, MergedField>,
    },
    Input {
        description: Option<String>,
        fields: IndexMap<String, MetaInputValue>,
    },
    Enum {
        description: Option<String>,
        values: Vec<String>,
    },
    Scalar {
        description: Option<String>,
    },
}

struct MergedField {
    description: Option<String>,
    args: IndexMap<String, MetaInputValue>,
    ty: String,
    roles: BTreeSet<String>,
}

/// The type of a coordinate that two roles render differently: they may differ only in
/// nullability (a referral-only or masked field), and then the nullable one is the union.
fn merge_type(coordinate: &str, a: &str, b: &str) -> Result<String, String> {
    if a == b {
        Ok(a.to_owned())
    } else if a.trim_end_matches('!') == b.trim_end_matches('!') {
        Ok(a.trim_end_matches('!').to_owned())
    } else {
        Err(format!(
            "{coordinate} is `{a}` for one role and `{b}` for another"
        ))
    }
}

fn merge_inputs(
    coordinate: &str,
    into: &mut IndexMap<String, MetaInputValue>,
    from: &IndexMap<String, MetaInputValue>,
) -> Result<(), String> {
    for (name, value) in from {
        match into.get_mut(name) {
            Some(existing) => {
                existing.ty = merge_type(&format!("{coordinate}.{name}"), &existing.ty, &value.ty)?;
            }
            None => {
                into.insert(name.clone(), value.clone());
            }
        }
    }
    Ok(())
}

/// The composed (router) SDL of all `roles`' schemas: Federation v2, every entity keyed as in
/// any role, every object type and field marked with the roles that may read it.
pub fn router_sdl(roles: &[(&str, &Schema)]) -> Result<String, String> {
    let mut types: BTreeMap<String, Merged> = BTreeMap::new();
    let mut root_types: BTreeSet<String> = BTreeSet::new();
    for (role, schema) in roles {
        let registry: &Registry = schema.registry();
        root_types.insert(registry.query_type.clone());
        root_types.extend(registry.mutation_type.clone());
        for (name, ty) in &registry.types {
            if is_builtin(name) {
                continue;
            }
            merge_type_into(&mut types, role, name, ty)?;
        }
    }
    let all_roles: BTreeSet<String> = roles.iter().map(|(r, _)| (*r).to_owned()).collect();
    let access = |who: &BTreeSet<String>| -> String {
        if *who == all_roles {
            " @authenticated".to_owned()
        } else {
            let scopes: Vec<String> = who
                .iter()
                .map(|r| format!("[\"{ROLE_SCOPE_PREFIX}{r}\"]"))
                .collect();
            format!(" @requiresScopes(scopes: [{}])", scopes.join(", "))
        }
    };
    let mut sdl = String::new();
    writeln!(
        sdl,
        "extend schema\n  @link(url: \"{FEDERATION_SPEC}\", import: [\"@key\", \"@authenticated\", \"@requiresScopes\"])\n"
    )
    .ok();
    for (name, ty) in &types {
        match ty {
            Merged::Object {
                description,
                keys,
                roles,
                fields,
            } => {
                write_description(&mut sdl, "", description);
                write!(sdl, "type {name}").ok();
                for key in keys {
                    write!(sdl, " @key(fields: \"{key}\")").ok();
                }
                // Root types are reachable by every caller; their fields say who may use them.
                // Elsewhere a field repeats no directive its type already states.
                let root = root_types.contains(name);
                if !root {
                    sdl.push_str(&access(roles));
                }
                sdl.push_str(" {\n");
                for (field_name, field) in fields {
                    write_description(&mut sdl, "  ", &field.description);
                    write!(sdl, "  {field_name}").ok();
                    write_arguments(&mut sdl, &field.args);
                    let directive = if root || field.roles != *roles {
                        access(&field.roles)
                    } else {
                        String::new()
                    };
                    writeln!(sdl, ": {}{directive}", field.ty).ok();
                }
                sdl.push_str("}\n\n");
            }
            Merged::Input {
                description,
                fields,
            } => {
                write_description(&mut sdl, "", description);
                writeln!(sdl, "input {name} {{").ok();
                for value in fields.values() {
                    write_description(&mut sdl, "  ", &value.description);
                    writeln!(sdl, "  {}", input_value(value)).ok();
                }
                sdl.push_str("}\n\n");
            }
            Merged::Enum {
                description,
                values,
            } => {
                write_description(&mut sdl, "", description);
                writeln!(sdl, "enum {name} {{").ok();
                for value in values {
                    writeln!(sdl, "  {value}").ok();
                }
                sdl.push_str("}\n\n");
            }
            Merged::Scalar { description } => {
                write_description(&mut sdl, "", description);
                writeln!(sdl, "scalar {name}\n").ok();
            }
        }
    }
    Ok(sdl)
}

fn merge_type_into(
    types: &mut BTreeMap<String, Merged>,
    role: &str,
    name: &str,
    ty: &MetaType,
) -> Result<(), String> {
    let conflict = || format!("type {name} is not of the same kind in every role");
    match ty {
        MetaType::Object {
            description,
            fields,
            keys,
            ..
        } => {
            let entry = types
                .entry(name.to_owned())
                .or_insert_with(|| Merged::Object {
                    description: description.clone(),
                    keys: Vec::new(),
                    roles: BTreeSet::new(),
                    fields: IndexMap::new(),
                });
            let Merged::Object {
                keys: merged_keys,
                roles,
                fields: merged_fields,
                ..
            } = entry
            else {
                return Err(conflict());
            };
            roles.insert(role.to_owned());
            for key in keys.iter().flatten() {
                if !merged_keys.contains(key) {
                    merged_keys.push(key.clone());
                }
            }
            for (field_name, field) in fields {
                if field_name.starts_with("__") || matches!(&**field_name, "_service" | "_entities")
                {
                    continue;
                }
                let coordinate = format!("{name}.{field_name}");
                match merged_fields.get_mut(field_name) {
                    Some(merged) => {
                        merged.ty = merge_type(&coordinate, &merged.ty, &field.ty)?;
                        merge_inputs(&coordinate, &mut merged.args, &field.args)?;
                        merged.roles.insert(role.to_owned());
                    }
                    None => {
                        merged_fields.insert(
                            field_name.clone(),
                            MergedField {
                                description: field.description.clone(),
                                args: field.args.clone(),
                                ty: field.ty.clone(),
                                roles: BTreeSet::from([role.to_owned()]),
                            },
                        );
                    }
                }
            }
        }
        MetaType::InputObject {
            description,
            input_fields,
            ..
        } => {
            let entry = types
                .entry(name.to_owned())
                .or_insert_with(|| Merged::Input {
                    description: description.clone(),
                    fields: IndexMap::new(),
                });
            let Merged::Input { fields, .. } = entry else {
                return Err(conflict());
            };
            merge_inputs(name, fields, input_fields)?;
        }
        MetaType::Enum {
            description,
            enum_values,
            ..
        } => {
            let entry = types
                .entry(name.to_owned())
                .or_insert_with(|| Merged::Enum {
                    description: description.clone(),
                    values: Vec::new(),
                });
            let Merged::Enum { values, .. } = entry else {
                return Err(conflict());
            };
            for value in enum_values.keys() {
                if !values.contains(value) {
                    values.push(value.clone());
                }
            }
        }
        MetaType::Scalar { description, .. } => {
            types
                .entry(name.to_owned())
                .or_insert_with(|| Merged::Scalar {
                    description: description.clone(),
                });
        }
        MetaType::Interface { .. } | MetaType::Union { .. } => {
            return Err(format!(
                "type {name}: interfaces and unions are not composed"
            ));
        }
    }
    Ok(())
}

fn write_description(sdl: &mut String, indent: &str, description: &Option<String>) {
    if let Some(text) = description {
        let text = text.replace("\"\"\"", "\\\"\"\"");
        writeln!(sdl, "{indent}\"\"\"{text}\"\"\"").ok();
    }
}

fn input_value(value: &MetaInputValue) -> String {
    match &value.default_value {
        Some(default) => format!("{}: {} = {default}", value.name, value.ty),
        None => format!("{}: {}", value.name, value.ty),
    }
}

/// An argument, its description inline (`"""…""" first: Int`).
fn argument(value: &MetaInputValue) -> String {
    match &value.description {
        Some(text) => format!(
            "\"\"\"{}\"\"\" {}",
            text.replace("\"\"\"", "\\\"\"\""),
            input_value(value)
        ),
        None => input_value(value),
    }
}

fn write_arguments(sdl: &mut String, args: &IndexMap<String, MetaInputValue>) {
    if args.is_empty() {
        return;
    }
    let args: Vec<String> = args.values().map(argument).collect();
    write!(sdl, "({})", args.join(", ")).ok();
}
