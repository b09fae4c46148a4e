//! The GraphiQL IDE, served from the binary (agency networks are often air-gapped: no CDN, no
//! request leaves for another host): `GET /`, `GET /graphql` from a browser (no `query`
//! parameter, `Accept: text/html`), and its assets under `/graphiql/`. The bundle is built by
//! `gateway/assets/graphiql/src/build.sh` (GraphiQL 5, pinned in its package-lock.json) and
//! committed; a Content-Security-Policy lets the page reach this origin only.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

const INDEX: &[u8] = include_bytes!("../../assets/graphiql/dist/index.html");

/// The assets the page loads: name, media type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/dist/graphiql.js"),
    ),
    (
        "graphiql.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/dist/graphiql.css"),
    ),
    (
        "editor.worker.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/dist/editor.worker.js"),
    ),
    (
        "json.worker.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/dist/json.worker.js"),
    ),
    (
        "graphql.worker.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/dist/graphql.worker.js"),
    ),
];

/// Only this origin, for scripts, workers, styles, fonts and requests; inline styles because
/// the editor sets them; nothing may frame the page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether a `GET /graphql` is a browser opening the endpoint (no query to run).
pub fn wanted(req: &HttpRequest, has_query: bool) -> bool {
    !has_query
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// The IDE's page.
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(INDEX)
}

/// One of the page's assets (compressed by the scope's middleware when the browser accepts it).
pub async fn asset(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(n, _, _)| *n == name.as_str()) {
        Some((_, media_type, bytes)) => HttpResponse::Ok()
            .content_type(*media_type)
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(*bytes),
        None => HttpResponse::NotFound().finish(),
    }
}
