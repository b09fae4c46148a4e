//! Tokens of agencies' own identity providers: accepted from configured issuers only, mapped
//! through the claim mapping, limited to the roles and agency configured, keys from a JWKS file
//! (changes count at once) or URL (unknown `kid`s refresh it, at most once per interval).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pora_tests::{Backend, TestApp, spawn_with};
use serde_json::{Value, json};

const ISSUER: &str = "https://login.unhcr.test/realms/jkt";

/// An identity provider's signing key.
struct IdpKey {
    kid: String,
    key: SigningKey,
}

impl IdpKey {
    fn new(kid: &str) -> Self {
        IdpKey {
            kid: kid.to_owned(),
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
        })
    }

    /// Signs `claims` with this key, naming `kid`.
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let der = self.key.to_pkcs8_der().expect("der");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes()))
            .expect("sign")
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }
}

fn jwks(keys: &[&IdpKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

/// Claims as the UNHCR identity provider writes them: role and region nested under `pora`,
/// scopes in `scp`.
fn idp_claims() -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": ISSUER, "aud": "pora", "sub": "liaison-7",
        "iat": now, "nbf": now, "exp": now + 600,
        "jti": uuid::Uuid::new_v4().to_string(),
        "pora": { "role": "unhcr", "region": "31.71" },
    })
}

fn with(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut claims = idp_claims();
    change(claims.as_object_mut().expect("object"));
    claims
}

/// The `[[trusted_issuers]]` entry of the UNHCR identity provider, as an operator writes it.
fn unhcr_issuer(extra: Value) -> gateway::auth::external::TrustedIssuerConfig {
    let mut entry = json!({
        "issuer": ISSUER,
        "roles": ["unhcr"],
        "agency": "UNHCR-JKT",
        "claims": { "role": "pora.role", "jurisdiction": "pora.region", "scope": "scp" },
    });
    for (k, v) in extra.as_object().expect("object") {
        entry[k] = v.clone();
    }
    serde_json::from_value(entry).expect("a valid trusted issuer entry")
}

async fn start(
    backend: Backend,
    entries: Vec<gateway::auth::external::TrustedIssuerConfig>,
) -> TestApp {
    spawn_with(backend, move |config| config.trusted_issuers = entries).await
}

async fn viewer(app: &TestApp, token: &str) -> pora_tests::Reply {
    app.query(token, "{ viewer { subject role agency jurisdiction } }")
        .await
}

async fn tokens_are_mapped_narrowed_and_audited(backend: Backend) {
    let key = IdpKey::new("unhcr-1");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("unhcr-jwks.json");
    std::fs::write(&file, jwks(&[&key])).expect("write");
    let app = start(backend, vec![unhcr_issuer(json!({ "jwks_file": file }))]).await;

    let token = key.sign(&idp_claims());
    let reply = viewer(&app, &token).await;
    assert_eq!(
        reply.data()["viewer"],
        json!({ "subject": "liaison-7", "role": "unhcr", "agency": "UNHCR-JKT", "jurisdiction": "31.71" })
    );
    // The same rows and fields as the gateway's own token for that role, agency and region.
    let query =
        "{ persons(first: 20, orderBy: [{field: ID}]) { totalCount nodes { id fullName } } }";
    let own = app.token_for("unhcr", "UNHCR-JKT", "31.71");
    assert_eq!(
        app.query(&token, query).await.data(),
        app.query(&own, query).await.data()
    );

    // Scopes from the `scp` claim narrow it like any token.
    let narrowed = key.sign(&with(|c| {
        c.insert("scp".into(), json!(["Shelter:read"]));
    }));
    let types = app
        .query(&narrowed, "{ __schema { queryType { fields { name } } } }")
        .await;
    let roots: Vec<&str> = types.data()["__schema"]["queryType"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .filter(|n| !n.starts_with('_'))
        .collect();
    assert_eq!(roots, ["viewer", "shelters", "shelter"]);

    // The audit names the identity provider's subject and token id.
    let reply = app.query(&token, "{ viewer { role } }").await;
    let event = app.audit_event(&reply.request_id).await;
    assert_eq!(event.subject.as_deref(), Some("liaison-7"));
    // The token id names its issuer: no provider's `jti` can pass for another's.
    let token_id = event.token_id.expect("token id");
    assert!(token_id.starts_with(&format!("{ISSUER}#")), "{token_id}");

    // Cutting the agency off reaches the provider's tokens too, though none is stored.
    app.query(
        &app.token("admin"),
        "mutation { revokeTokensOfAgency(agency: \"UNHCR-JKT\") }",
    )
    .await
    .data();
    let refused = viewer(&app, &token).await;
    assert_eq!(
        (refused.status, refused.code()),
        (401, Some("TOKEN_REVOKED"))
    );
}

async fn what_an_issuer_may_not_do_is_refused(backend: Backend) {
    let key = IdpKey::new("unhcr-1");
    let stranger = IdpKey::new("unhcr-1");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("unhcr-jwks.json");
    std::fs::write(&file, jwks(&[&key])).expect("write");
    let mut rs_only = unhcr_issuer(json!({ "jwks_file": file, "algorithms": ["RS256"] }));
    rs_only.issuer = "https://rs-only.test".to_owned();
    let app = start(
        backend,
        vec![unhcr_issuer(json!({ "jwks_file": file })), rs_only],
    )
    .await;
    let hs256 = {
        // The public key used as an HMAC secret: the classic algorithm-confusion forgery.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("unhcr-1".into());
        jsonwebtoken::encode(
            &header,
            &idp_claims(),
            &EncodingKey::from_secret(key.key.verifying_key().as_bytes()),
        )
        .expect("sign")
    };
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "an issuer that is not configured",
            key.sign(&with(|c| {
                c.insert("iss".into(), json!("https://login.evil.test"));
            })),
            401,
            "TOKEN_ISSUER_INVALID",
        ),
        (
            "another audience",
            key.sign(&with(|c| {
                c.insert("aud".into(), json!("someone-else"));
            })),
            401,
            "TOKEN_AUDIENCE_INVALID",
        ),
        (
            "a role the issuer may not grant",
            key.sign(&with(|c| {
                c.insert("pora".into(), json!({ "role": "admin", "region": "31" }));
            })),
            401,
            "TOKEN_ROLE_UNKNOWN",
        ),
        (
            "another agency than the issuer's",
            key.sign(&with(|c| {
                c.insert("agency".into(), json!("POLRES-JKP"));
            })),
            401,
            "TOKEN_INVALID",
        ),
        (
            "no jurisdiction",
            key.sign(&with(|c| {
                c.insert("pora".into(), json!({ "role": "unhcr" }));
            })),
            401,
            "TOKEN_INVALID",
        ),
        (
            "an unknown kid",
            key.sign_as("unhcr-9", &idp_claims()),
            401,
            "TOKEN_INVALID",
        ),
        (
            "the right kid, another key",
            stranger.sign(&idp_claims()),
            401,
            "TOKEN_INVALID",
        ),
        (
            "expired",
            key.sign(&with(|c| {
                c.insert("exp".into(), json!(chrono::Utc::now().timestamp() - 3600));
            })),
            401,
            "TOKEN_EXPIRED",
        ),
        (
            "HS256 keyed with the public key",
            hs256,
            401,
            "TOKEN_INVALID",
        ),
        (
            "an algorithm the issuer may not use",
            key.sign(&with(|c| {
                c.insert("iss".into(), json!("https://rs-only.test"));
            })),
            401,
            "TOKEN_INVALID",
        ),
        (
            "a role claim that is not a string",
            key.sign(&with(|c| {
                c.insert(
                    "pora".into(),
                    json!({ "role": ["unhcr"], "region": "31.71" }),
                );
            })),
            401,
            "TOKEN_INVALID",
        ),
        (
            "a scope outside the role",
            key.sign(&with(|c| {
                c.insert("scp".into(), json!("Shelter personStatistics issueToken"));
            })),
            403,
            "TOKEN_SCOPE_NOT_IN_ROLE",
        ),
    ];
    for (what, token, status, code) in cases {
        let reply = viewer(&app, &token).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, Some(code)),
            "{what}: {}",
            reply.body
        );
        assert!(reply.body.get("data").is_none(), "{what}");
    }
}

async fn keys_are_used_only_as_their_jwks_says(backend: Backend) {
    let pinned = IdpKey::new("pinned");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("unhcr-jwks.json");
    // A JWK that pins another algorithm, and one meant for encryption.
    let mut wrong_alg = pinned.jwk();
    wrong_alg["alg"] = json!("ES256");
    let encryption = IdpKey::new("enc");
    let mut enc = encryption.jwk();
    enc["use"] = json!("enc");
    std::fs::write(&file, json!({ "keys": [wrong_alg, enc] }).to_string()).expect("write");
    let app = start(backend, vec![unhcr_issuer(json!({ "jwks_file": file }))]).await;
    for token in [pinned.sign(&idp_claims()), encryption.sign(&idp_claims())] {
        let reply = viewer(&app, &token).await;
        assert_eq!((reply.status, reply.code()), (401, Some("TOKEN_INVALID")));
    }
    // An identity provider's own scopes are not read unless a scope claim is mapped.
    let mut unmapped = unhcr_issuer(json!({ "jwks_file": file }));
    unmapped.claims.scope = String::new();
    let plain = IdpKey::new("plain");
    std::fs::write(&file, jwks(&[&plain])).expect("write");
    let app = start(backend, vec![unmapped]).await;
    let oidc = plain.sign(&with(|c| {
        c.insert("scope".into(), json!("openid profile email"));
    }));
    viewer(&app, &oidc).await.data();
}

async fn configuration_mistakes_stop_the_start(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(&[&IdpKey::new("k")])).expect("write");
    let cases = [
        (
            "a JWKS URL over plain http",
            vec![unhcr_issuer(
                json!({ "jwks_url": "http://idp.example/certs" }),
            )],
        ),
        (
            "the same issuer twice",
            vec![
                unhcr_issuer(json!({ "jwks_file": file })),
                unhcr_issuer(json!({ "jwks_file": file })),
            ],
        ),
        (
            "a role the policy lacks",
            vec![unhcr_issuer(
                json!({ "jwks_file": file, "roles": ["refugee"] }),
            )],
        ),
        (
            "a symmetric algorithm",
            vec![unhcr_issuer(
                json!({ "jwks_file": file, "algorithms": ["HS256"] }),
            )],
        ),
        ("no keys at all", vec![unhcr_issuer(json!({}))]),
        (
            "an unreadable JWKS file",
            vec![unhcr_issuer(
                json!({ "jwks_file": dir.path().join("missing.json") }),
            )],
        ),
    ];
    for (what, entries) in cases {
        let data = tempfile::tempdir().expect("dir");
        let mut config = gateway::Config {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: data.path().to_owned(),
            demo_data: Some(false),
            trusted_issuers: entries,
            ..gateway::Config::default()
        };
        if backend == Backend::Postgres {
            // The check comes before any database is touched; SQLite stands in.
            config.database_url = None;
        }
        let result = gateway::Application::build(config).await;
        assert!(result.is_err(), "{what} must stop the start");
    }
}

async fn a_key_taken_out_of_the_file_stops_at_once_and_a_new_one_starts(backend: Backend) {
    let old = IdpKey::new("unhcr-2025");
    let new = IdpKey::new("unhcr-2026");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("unhcr-jwks.json");
    std::fs::write(&file, jwks(&[&old])).expect("write");
    let app = start(backend, vec![unhcr_issuer(json!({ "jwks_file": file }))]).await;
    let old_token = old.sign(&idp_claims());
    let new_token = new.sign(&idp_claims());
    viewer(&app, &old_token).await.data();
    assert_eq!(viewer(&app, &new_token).await.status, 401);
    // The provider rotates: the new key in, the old one out (written whole, as a deploy does).
    let staged = dir.path().join("staged.json");
    std::fs::write(&staged, format!("{}\n", jwks(&[&new]))).expect("write");
    std::fs::rename(&staged, &file).expect("rename");
    viewer(&app, &new_token).await.data();
    let refused = viewer(&app, &old_token).await;
    assert_eq!(
        (refused.status, refused.code()),
        (401, Some("TOKEN_INVALID"))
    );
}

/// A JWKS endpoint on loopback that counts its hits.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

async fn jwks_server(body: String) -> JwksServer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/certs", listener.local_addr().expect("addr"));
    let body = Arc::new(Mutex::new(body));
    let hits = Arc::new(AtomicUsize::new(0));
    let (served, counted) = (body.clone(), hits.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let body = served.lock().expect("body").clone();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    JwksServer { url, body, hits }
}

async fn a_jwks_url_is_refreshed_for_new_kids_at_most_once_per_interval(backend: Backend) {
    let first = IdpKey::new("k1");
    let second = IdpKey::new("k2");
    let server = jwks_server(jwks(&[&first])).await;
    let app = start(
        backend,
        vec![unhcr_issuer(
            json!({ "jwks_url": server.url, "min_refresh_seconds": 3600 }),
        )],
    )
    .await;
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        1,
        "fetched once at start"
    );
    viewer(&app, &first.sign(&idp_claims())).await.data();
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        1,
        "a known kid fetches nothing"
    );

    // The provider adds a key: its first token makes the gateway look, and it is accepted.
    *server.body.lock().expect("body") = jwks(&[&first, &second]);
    viewer(&app, &second.sign(&idp_claims())).await.data();
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);

    // A flood of made-up kids: all refused, and no more fetches within the interval.
    let forged: Vec<String> = (0..20)
        .map(|i| first.sign_as(&format!("made-up-{i}"), &idp_claims()))
        .collect();
    let replies = futures::future::join_all(forged.iter().map(|t| viewer(&app, t))).await;
    for reply in replies {
        assert_eq!((reply.status, reply.code()), (401, Some("TOKEN_INVALID")));
    }
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        2,
        "unknown kids are rate-limited"
    );
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(pora_tests::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(pora_postgres), ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set")]
                async fn $name() {
                    super::$name(pora_tests::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both_databases!(
    tokens_are_mapped_narrowed_and_audited,
    keys_are_used_only_as_their_jwks_says,
    configuration_mistakes_stop_the_start,
    what_an_issuer_may_not_do_is_refused,
    a_key_taken_out_of_the_file_stops_at_once_and_a_new_one_starts,
    a_jwks_url_is_refreshed_for_new_kids_at_most_once_per_interval,
);
