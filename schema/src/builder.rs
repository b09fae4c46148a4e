//! The one schema generator: (compiled policy, role) → an async-graphql dynamic schema.
//!
//! Only what the role's `RoleView` lists is registered. A field the role may not read is not in
//! the schema, so it fails validation exactly like a field that never existed, is absent from
//! introspection and SDL, and (with suggestions disabled) is never hinted at.
//!
//! This module only assembles: the fields and types come from `reads` (objects, pages,
//! lookups), `filter` (filter and order inputs), `statistics_schema`, `verify_document`,
//! `access_report`, `viewer`, `federation` (entities), and for the mutation root `mutation`
//! (writes), `token_admin`, `referrals` and `action_items`.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_graphql::Value as GqlValue;
use async_graphql::dynamic::{Enum, EnumItem, Object, Scalar, Schema, SchemaError};

use crate::access_report::person_access_report_field;
use crate::catalogue::{CATALOGUE, FieldKind, Kind};
use crate::filter::{filter_input, type_filter_input, type_order_inputs};
use crate::options::SchemaOptions;
use crate::policy::RoleView;
use crate::reads::{connection_types, get_field, list_field, object_field, page_info_type};
use crate::statistics_schema::statistics_types;
use crate::verify_document::{RateLimiter, verify_document_field};
use crate::viewer::viewer_type;

/// Set by `ValidationProbe` once a request has passed validation: the HTTP layer puts one in
/// each request's data to tell request errors (4xx) from field errors during execution.
#[derive(Clone, Debug, Default)]
pub struct ExecutionStarted(pub Arc<std::sync::atomic::AtomicBool>);

impl ExecutionStarted {
    pub fn started(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

struct ValidationProbe;

impl async_graphql::extensions::ExtensionFactory for ValidationProbe {
    fn create(&self) -> Arc<dyn async_graphql::extensions::Extension> {
        Arc::new(ValidationProbe)
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for ValidationProbe {
    async fn validation(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextValidation<'_>,
    ) -> Result<async_graphql::ValidationResult, Vec<async_graphql::ServerError>> {
        let result = next.run(ctx).await;
        if result.is_ok()
            && let Some(flag) = ctx.data_opt::<ExecutionStarted>()
        {
            flag.0.store(true, std::sync::atomic::Ordering::Release);
        }
        result
    }
}

/// Deepest introspection query accepted: graphql-js' `getIntrospectionQuery()` needs 15.
pub const INTROSPECTION_DEPTH: usize = 20;

/// Builds the schema of one role.
pub fn build_schema(
    role: &RoleView,
    options: &SchemaOptions,
    limiter: Arc<RateLimiter>,
) -> Result<Schema, SchemaError> {
    let revocations = crate::token_admin::revocation_fields(&role.operations);
    let (referral_fields, referral_inputs) =
        crate::referrals::referral_fields(&role.operations, role.referral_purposes.clone());
    let action_items = crate::action_items::action_item_fields(&role.operations);
    let registration = crate::mutation::register_person_field(role);
    let issues = role.operations.contains("issueToken");
    let writes = role
        .types
        .values()
        .any(|v| v.create || v.update || !v.links.is_empty())
        || !revocations.is_empty()
        || !referral_fields.is_empty()
        || !action_items.is_empty()
        || registration.is_some()
        || issues;
    let mut builder = Schema::build("Query", writes.then_some("Mutation"), None)
        .disable_suggestions()
        // Data depth is `limits::analyse`'s (introspection exempt); this bounds introspection.
        .limit_depth(options.max_depth.max(INTROSPECTION_DEPTH))
        .limit_complexity(options.max_complexity)
        .limit_directives(8)
        .extension(ValidationProbe)
        .extension(crate::audit::AuditProbe)
        .extension(crate::federation::EntityGapsExtension)
        .enable_federation()
        .entity_resolver(crate::federation::resolve_entities)
        .data(limiter);
    let mut query = Object::new("Query");
    let mut used_kinds: BTreeSet<String> = BTreeSet::new();
    let mut filter_kinds: Vec<Kind> = Vec::new();
    let mut enums_used: BTreeSet<&'static str> = BTreeSet::new();

    let (viewer_field, viewer) = viewer_type();
    query = query.field(viewer_field);
    builder = builder.register(viewer);
    let mut need_page_info = false;

    for view in role.types.values() {
        let mut object = Object::new(view.def.name).description(view.def.description);
        for key in crate::federation::entity_keys(view) {
            object = object.key(key.field);
        }
        for (i, f) in view.fields.iter().enumerate() {
            object = object.field(object_field(view, i, options));
            let kind = match f.def.kind {
                FieldKind::Column { kind, .. }
                | FieldKind::Mask { kind, .. }
                | FieldKind::Expression { kind, .. }
                | FieldKind::Maintained { kind, .. } => Some(kind),
                FieldKind::Relation { .. } => None,
            };
            if let Some(kind) = kind {
                used_kinds.insert(kind.graphql_name().to_owned());
                if let Kind::Enum(e) | Kind::EnumList(e) = kind {
                    enums_used.insert(e);
                }
            }
            // Filter inputs only for types that have a list to filter: an input type nothing
            // uses would be in the SDL but not in introspection.
            if view.list
                && let Some((_, kind)) = f.filterable()
                && !filter_kinds.contains(&kind)
            {
                filter_kinds.push(kind);
            }
        }
        builder = builder.register(object);
        if view.list {
            need_page_info = true;
            let (connection, edge) = connection_types(view.def.name);
            let (order_enum, order_input) = type_order_inputs(view);
            builder = builder
                .register(connection)
                .register(edge)
                .register(type_filter_input(view))
                .register(order_enum)
                .register(order_input);
            if view.def.name == "Referral" {
                builder = builder.register(
                    Enum::new("ReferralDirection")
                        .description("Which side of a referral your agency is on.")
                        .item(EnumItem::new("INCOMING").description("Referred to your agency."))
                        .item(EnumItem::new("OUTGOING").description("Sent by your agency.")),
                );
            }
            query = query.field(list_field(view, options));
        }
        if view.get {
            query = query.field(get_field(view));
        }
    }
    if need_page_info {
        builder = builder.register(page_info_type()).register(
            Enum::new("OrderDirection")
                .item(EnumItem::new("ASC"))
                .item(EnumItem::new("DESC")),
        );
        for kind in &filter_kinds {
            builder = builder.register(filter_input(*kind));
            used_kinds.insert(kind.graphql_name().to_owned());
        }
    }
    for view in &role.statistics {
        let (field, objects, dim_enum) = statistics_types(view);
        query = query.field(field);
        for o in objects {
            builder = builder.register(o);
        }
        builder = builder.register(dim_enum);
        for d in &view.dimensions {
            let dim = view
                .def
                .dimensions
                .iter()
                .find(|x| x.name == *d)
                .expect("checked");
            used_kinds.insert(dim.kind.graphql_name().to_owned());
            if let Kind::Enum(e) = dim.kind {
                enums_used.insert(e);
            }
        }
    }
    if role.operations.contains("verifyDocument") {
        let (field, object) = verify_document_field();
        query = query.field(field);
        builder = builder.register(object);
        enums_used.insert("DocumentType");
        used_kinds.insert("Date".to_owned());
    }
    if role.operations.contains("personAccessReport") {
        let (field, objects) = person_access_report_field();
        query = query.field(field);
        for object in objects {
            builder = builder.register(object);
        }
    }
    used_kinds.insert("RegionCode".to_owned());
    for e in &CATALOGUE.enums {
        if enums_used.contains(e.name) {
            builder = builder
                .register(Enum::new(e.name).items(e.values.iter().map(|v| EnumItem::new(*v))));
        }
    }
    if used_kinds.contains("Date") {
        builder = builder.register(
            Scalar::new("Date")
                .description("A calendar date, YYYY-MM-DD (ISO 8601).")
                .specified_by_url("https://www.iso.org/iso-8601-date-and-time-format.html")
                .validator(
                    |v| matches!(v, GqlValue::String(s) if crate::condition::parse_date(s).is_some()),
                ),
        );
    }
    if used_kinds.contains("DateTime") {
        builder = builder.register(
            Scalar::new("DateTime")
                .description("An RFC 3339 timestamp.")
                .specified_by_url("https://datatracker.ietf.org/doc/html/rfc3339")
                .validator(|v| matches!(v, GqlValue::String(s) if crate::condition::parse_datetime(s).is_some())),
        );
    }
    builder = builder.register(
        Scalar::new("RegionCode")
            .description("A Kemendagri region code (Kepmendagri 300.2.2-2138/2025): province 31, city 31.71, district 31.71.01 or village 31.71.01.1001.")
            .specified_by_url("https://github.com/cahyadsn/wilayah")
            .validator(|v| matches!(v, GqlValue::String(s) if crate::session::is_region_code(s))),
    );
    if writes {
        let mut mutation = Object::new("Mutation");
        if issues {
            let (field, input, object) = crate::token_admin::issue_token_field();
            mutation = mutation.field(field);
            builder = builder.register(input).register(object);
        }
        for field in revocations {
            mutation = mutation.field(field);
        }
        for field in referral_fields.into_iter().chain(action_items) {
            mutation = mutation.field(field);
        }
        if let Some((field, inputs)) = registration {
            mutation = mutation.field(field);
            for input in inputs {
                builder = builder.register(input);
            }
        }
        for input in referral_inputs {
            builder = builder.register(input);
        }
        for view in role.types.values() {
            let (fields, inputs) = crate::mutation::mutation_fields(view);
            for field in fields.into_iter().chain(crate::mutation::link_fields(view)) {
                mutation = mutation.field(field);
            }
            for input in inputs {
                builder = builder.register(input);
            }
        }
        builder = builder.register(mutation);
    }
    builder.register(query).finish()
}
