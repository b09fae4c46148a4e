//! Signing-key rotation: tokens of the old and the new key both work, and the JWKS endpoint
//! publishes both public keys with their `kid`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway::auth::{Authenticator, SigningKeys};
use pora_tests::{TestApp, on_both_databases};

async fn jwks(app: &TestApp) -> serde_json::Value {
    let response = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.base))
        .send()
        .await
        .expect("jwks");
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.expect("json")
}

fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

async fn old_and_new_keys_both_verify_after_a_rotation(app: TestApp) {
    let before = jwks(&app).await;
    let old_kid = SigningKeys::load_or_generate(&app.data_dir)
        .expect("keys")
        .kid()
        .to_owned();
    assert_eq!(kids(&before), vec![old_kid.clone()]);
    let key = &before["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(key["x"].as_str().expect("x"))
            .expect("base64url")
            .len(),
        32
    );

    let old_token = app.token("unhcr");
    let new_kid = SigningKeys::rotate(&app.data_dir).expect("rotate");
    assert_ne!(new_kid, old_kid);
    // A token of the new key, as a newly started process (or the CLI) would sign it.
    let roles = pora_tests::DOMAIN_ROLES
        .iter()
        .map(|r| r.to_string())
        .collect();
    let signer = Authenticator::new(
        SigningKeys::load_or_generate(&app.data_dir).expect("keys"),
        "pora-gateway",
        "pora",
        roles,
    );
    assert_eq!(signer.keys().kid(), new_kid);
    let new_token = signer
        .issue(
            "unhcr",
            "UNHCR-JKT",
            "31",
            "after-rotation",
            chrono::Duration::hours(1),
        )
        .expect("sign");

    // The running gateway picks the new key up on its first token, and keeps the old one.
    assert_eq!(
        app.query(&new_token, "{ viewer { subject } }").await.data()["viewer"]["subject"],
        "after-rotation"
    );
    assert_eq!(
        app.query(&old_token, "{ viewer { role } }").await.data()["viewer"]["role"],
        "unhcr"
    );
    assert_eq!(kids(&jwks(&app).await), vec![old_kid, new_kid]);
}

on_both_databases!(old_and_new_keys_both_verify_after_a_rotation);
