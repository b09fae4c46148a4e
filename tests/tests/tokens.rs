//! Token rejection: every bad token is answered 401 with a stable `extensions.code`, no `data`
//! and nothing of the schema, whatever the query asks for; a good token (also one expired less
//! than the 60 s leeway ago) is accepted and `viewer` repeats its claims.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey};
use gateway::auth::{Authenticator, Claims, SigningKeys};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pora_tests::{Reply, TestApp, on_both_databases};
use serde_json::json;

const INTROSPECTION: &str = "{ __schema { types { name } } }";

/// Claims the gateway would accept: immigration at its demo agency, valid for an hour.
fn valid_claims() -> Claims {
    let now = Utc::now().timestamp();
    Claims {
        iss: "pora-gateway".to_owned(),
        aud: "pora".to_owned(),
        sub: "officer-17".to_owned(),
        exp: now + 3600,
        nbf: now,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        role: "immigration".to_owned(),
        agency: "KANIM-JKP".to_owned(),
        jurisdiction: "31.71".to_owned(),
        purpose: None,
        scope: None,
    }
}

fn with(change: impl FnOnce(&mut Claims)) -> Claims {
    let mut claims = valid_claims();
    change(&mut claims);
    claims
}

fn b64(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

/// `alg: none` with valid-looking claims and an empty signature.
fn unsigned_token() -> String {
    let header = json!({ "alg": "none", "typ": "JWT" });
    let claims = serde_json::to_value(valid_claims()).expect("claims");
    format!("{}.{}.", b64(&header), b64(&claims))
}

fn foreign_keys() -> SigningKeys {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    SigningKeys::from_key(&key).expect("foreign key")
}

/// Signed by a freshly generated key, with that key's own `kid`.
fn foreign_token() -> String {
    let roles = pora_tests::DOMAIN_ROLES
        .iter()
        .map(|r| r.to_string())
        .collect();
    let foreign = Authenticator::new(foreign_keys(), "pora-gateway", "pora", roles);
    foreign.sign(&valid_claims()).expect("sign")
}

/// Signed by a freshly generated key but naming the gateway's `kid`.
fn foreign_token_with_gateway_kid(app: &TestApp) -> String {
    let gateway_keys = SigningKeys::load_or_generate(&app.data_dir).expect("gateway key");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(gateway_keys.kid().to_owned());
    jsonwebtoken::encode(&header, &valid_claims(), foreign_keys().encoding_key()).expect("sign")
}

/// HS256 with the gateway's public key PEM as the HMAC secret (the key-confusion attack).
fn hs256_with_public_key(app: &TestApp) -> String {
    let pem =
        std::fs::read_to_string(app.data_dir.join("signing-key.pem")).expect("gateway key file");
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).expect("Ed25519 PKCS#8 key");
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("public PEM");
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &valid_claims(),
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .expect("sign")
}

/// Correctly signed by the gateway's key, but the claims lack `jti`.
fn without_jti(app: &TestApp) -> String {
    let keys = SigningKeys::load_or_generate(&app.data_dir).expect("gateway key");
    let mut claims = serde_json::to_value(valid_claims()).expect("claims");
    claims.as_object_mut().expect("object").remove("jti");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(keys.kid().to_owned());
    jsonwebtoken::encode(&header, &claims, keys.encoding_key()).expect("sign")
}

async fn introspect_with(app: &TestApp, token: Option<&str>) -> Reply {
    let body = serde_json::to_vec(&json!({ "query": INTROSPECTION })).expect("json");
    app.post_raw(token, "application/json", body).await
}

fn assert_rejected(case: &str, reply: &Reply, code: &str) {
    assert_eq!(reply.status, 401, "{case}: {}", reply.body);
    assert_eq!(reply.code(), Some(code), "{case}: {}", reply.body);
    assert!(
        reply.body.get("data").is_none(),
        "{case}: a rejected request has no data: {}",
        reply.body
    );
    let text = reply.body.to_string();
    for leak in ["Person", "viewer", "Viewer", "__schema", "__Type", "Query"] {
        assert!(
            !text.contains(leak),
            "{case}: the body mentions {leak:?}: {text}"
        );
    }
}

async fn every_bad_token_is_refused_with_its_code(app: TestApp) {
    let now = Utc::now().timestamp();
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no Authorization header", None, "TOKEN_MISSING"),
        ("not a JWT", Some("garbage".to_owned()), "TOKEN_INVALID"),
        (
            "alg none, empty signature",
            Some(unsigned_token()),
            "TOKEN_INVALID",
        ),
        (
            "signed by another key",
            Some(foreign_token()),
            "TOKEN_INVALID",
        ),
        (
            "signed by another key, gateway kid",
            Some(foreign_token_with_gateway_kid(&app)),
            "TOKEN_INVALID",
        ),
        (
            "HS256 keyed with the public key",
            Some(hs256_with_public_key(&app)),
            "TOKEN_INVALID",
        ),
        (
            "expired beyond the leeway",
            Some(app.sign(&with(|c| {
                c.iat = now - 7200;
                c.nbf = now - 7200;
                c.exp = now - 120;
            }))),
            "TOKEN_EXPIRED",
        ),
        (
            "not valid for 10 minutes",
            Some(app.sign(&with(|c| c.nbf = now + 600))),
            "TOKEN_NOT_YET_VALID",
        ),
        (
            "issued 10 minutes in the future",
            Some(app.sign(&with(|c| c.iat = now + 600))),
            "TOKEN_NOT_YET_VALID",
        ),
        (
            "wrong issuer",
            Some(app.sign(&with(|c| c.iss = "someone-else".to_owned()))),
            "TOKEN_ISSUER_INVALID",
        ),
        (
            "wrong audience",
            Some(app.sign(&with(|c| c.aud = "not-pora".to_owned()))),
            "TOKEN_AUDIENCE_INVALID",
        ),
        (
            "unknown role",
            Some(app.sign(&with(|c| c.role = "sheriff".to_owned()))),
            "TOKEN_ROLE_UNKNOWN",
        ),
        (
            "jurisdiction not a region code",
            Some(app.sign(&with(|c| c.jurisdiction = "31.71.%".to_owned()))),
            "TOKEN_INVALID",
        ),
        ("no jti", Some(without_jti(&app)), "TOKEN_INVALID"),
    ];
    for (case, token, code) in &cases {
        let reply = introspect_with(&app, token.as_deref()).await;
        assert_rejected(case, &reply, code);
    }
}

async fn an_authorization_header_that_is_not_bearer_counts_as_missing(app: TestApp) {
    let body = serde_json::to_vec(&json!({ "query": INTROSPECTION })).expect("json");
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("Basic {}", URL_SAFE_NO_PAD.encode("user:password")),
        )
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    let text = response.text().await.expect("body");
    let body: serde_json::Value = serde_json::from_str(&text).expect("JSON body");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "TOKEN_MISSING",
        "{text}"
    );
    assert!(body.get("data").is_none(), "{text}");
    assert!(
        !text.contains("__schema") && !text.contains("Person"),
        "{text}"
    );
}

async fn expiry_has_sixty_seconds_of_leeway(app: TestApp) {
    let now = Utc::now().timestamp();
    let just_expired = app.sign(&with(|c| {
        c.iat = now - 3600;
        c.nbf = now - 3600;
        c.exp = now - 30;
    }));
    let reply = app.query(&just_expired, "{ viewer { role } }").await;
    assert_eq!(reply.data()["viewer"]["role"], "immigration");

    let long_expired = app.sign(&with(|c| {
        c.iat = now - 3600;
        c.nbf = now - 3600;
        c.exp = now - 90;
    }));
    let reply = introspect_with(&app, Some(&long_expired)).await;
    assert_rejected("expired 90 s ago", &reply, "TOKEN_EXPIRED");
}

async fn a_valid_token_is_accepted_and_viewer_repeats_its_claims(app: TestApp) {
    let claims = with(|c| {
        c.role = "police".to_owned();
        c.agency = "POLRES-JKP".to_owned();
        c.jurisdiction = "31.71.01".to_owned();
        c.sub = "brigadir-7".to_owned();
    });
    let token = app.sign(&claims);
    let reply = app
        .query(&token, "{ viewer { subject role agency jurisdiction } }")
        .await;
    assert_eq!(reply.content_type, "application/graphql-response+json");
    let viewer = &reply.data()["viewer"];
    assert_eq!(viewer["subject"], "brigadir-7");
    assert_eq!(viewer["role"], "police");
    assert_eq!(viewer["agency"], "POLRES-JKP");
    assert_eq!(viewer["jurisdiction"], "31.71.01");

    let reply = introspect_with(&app, Some(&token)).await;
    assert!(
        reply.data()["__schema"]["types"]
            .as_array()
            .expect("types")
            .iter()
            .any(|t| t["name"] == "Viewer"),
        "{}",
        reply.body
    );
}

on_both_databases!(
    every_bad_token_is_refused_with_its_code,
    an_authorization_header_that_is_not_bearer_counts_as_missing,
    expiry_has_sixty_seconds_of_leeway,
    a_valid_token_is_accepted_and_viewer_repeats_its_claims,
);
