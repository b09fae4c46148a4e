//! Helpers every resolver shares: the request's `Engine`, a field that reads a value of its
//! parent object (`getter`), the GraphQL type of a catalogue value (`value_type`) and the note
//! of a returned row in the request's audit trail (`note_row`). Below every module that
//! defines fields (`reads`, `statistics_schema`, `verify_document`, `access_report`,
//! `viewer`, `federation`, `mutation`, `token_admin`, `referrals`, `action_items`).

use std::sync::Arc;

use async_graphql::Value as GqlValue;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, ResolverContext, TypeRef};

use crate::catalogue::Kind;
use crate::engine::Engine;
use crate::row::Row;

pub(crate) fn engine(ctx: &ResolverContext<'_>) -> async_graphql::Result<Arc<Engine>> {
    Ok(ctx.data::<Arc<Engine>>()?.clone())
}

/// A field that reads a value of the parent object `T`.
pub(crate) fn getter<T: std::any::Any + Send + Sync>(
    name: &str,
    ty: TypeRef,
    get: impl Fn(&T) -> GqlValue + Send + Sync + 'static,
) -> Field {
    let get = Arc::new(get);
    Field::new(name, ty, move |ctx| {
        let get = get.clone();
        FieldFuture::new(async move {
            let value = get(ctx.parent_value.try_downcast_ref::<T>()?);
            // A null must be "no value", not a value: list types reject a null value.
            Ok((value != GqlValue::Null).then(|| FieldValue::value(value)))
        })
    })
}

/// The GraphQL type of a value of `kind`.
pub(crate) fn value_type(kind: Kind, nullable: bool) -> TypeRef {
    let name = kind.graphql_name();
    match (kind.is_list(), nullable) {
        (true, true) => TypeRef::named_nn_list(name),
        (true, false) => TypeRef::named_nn_list_nn(name),
        (false, true) => TypeRef::named(name),
        (false, false) => TypeRef::named_nn(name),
    }
}

/// Notes in the request's audit trail that `row` (of `type_name`) was returned.
pub(crate) fn note_row(
    ctx: &ResolverContext<'_>,
    type_name: &'static str,
    person_column: Option<&'static str>,
    row: &Row,
) {
    if let Some(trail) = ctx.data_opt::<Arc<crate::audit::AuditTrail>>() {
        let id = row.key_str("id");
        let person = person_column.and_then(|c| row.key_str(c));
        trail.row(type_name, id.as_deref(), person.as_deref());
    }
}
