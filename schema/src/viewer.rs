//! `viewer`: who the token says the caller is (subject, role, agency, jurisdiction), read from
//! the request's `Session`.

use std::sync::Arc;

use async_graphql::Value as GqlValue;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, TypeRef};

use crate::engine::Engine;
use crate::resolve::{engine, getter};

pub(crate) fn viewer_type() -> (Field, Object) {
    let field = Field::new("viewer", TypeRef::named_nn("Viewer"), |ctx| {
        FieldFuture::new(async move { Ok(Some(FieldValue::owned_any(engine(&ctx)?))) })
    })
    .description("Who the token says you are.");
    let s = |f: fn(&Engine) -> String| move |e: &Arc<Engine>| GqlValue::String(f(e));
    let object = Object::new("Viewer")
        .field(getter::<Arc<Engine>>(
            "subject",
            TypeRef::named_nn(TypeRef::STRING),
            s(|e| e.session.subject.clone()),
        ))
        .field(getter::<Arc<Engine>>(
            "role",
            TypeRef::named_nn(TypeRef::STRING),
            s(|e| e.session.role.clone()),
        ))
        .field(getter::<Arc<Engine>>(
            "agency",
            TypeRef::named_nn(TypeRef::STRING),
            s(|e| e.session.agency.clone()),
        ))
        .field(getter::<Arc<Engine>>(
            "jurisdiction",
            TypeRef::named_nn("RegionCode"),
            s(|e| e.session.jurisdiction.clone()),
        ));
    (field, object)
}
