//! Managed tokens: issued and stored (never their values), listed per agency, revoked with
//! effect on the very next request, also on another gateway sharing the database.

use std::time::{Duration, Instant};

use gateway::admin::{Issuable, IssueRequest, TokenError, TokenStore};
use pora_tests::{TestApp, on_both_databases, spawn_with};
use serde_json::json;

fn request(role: &str, agency: &str, hours: i64) -> IssueRequest {
    IssueRequest {
        role: role.to_owned(),
        agency: agency.to_owned(),
        jurisdiction: "31.71".to_owned(),
        subject: format!("{role}-officer"),
        ttl: chrono::Duration::hours(hours),
        purpose: Some("PROTECTION".to_owned()),
        note: Some("liaison laptop".to_owned()),
        issued_by: Some("test".to_owned()),
        scopes: Vec::new(),
    }
}

/// What the gateway lets administrators issue: the policy's roles.
fn allowed() -> Issuable {
    let policy = schema::Policy::builtin().expect("policy");
    Issuable {
        roles: policy.roles.keys().cloned().collect(),
        policy,
    }
}

async fn issue(app: &TestApp, role: &str, agency: &str) -> (String, String) {
    let store = TokenStore::new(app.db.clone());
    let roles = allowed();
    let (token, model) = store
        .issue(
            &app.auth,
            request(role, agency, 8),
            chrono::Duration::hours(12),
            &roles,
        )
        .await
        .expect("issue");
    (token, model.id)
}

async fn issued_tokens_are_listed_without_their_values(app: TestApp) {
    let (police_token, police_id) = issue(&app, "police", "POLRES-JKP").await;
    let (iom_token, iom_id) = issue(&app, "iom", "IOM-JKT").await;
    assert_eq!(
        app.query(&police_token, "{ viewer { role } }").await.data()["viewer"]["role"],
        "police"
    );

    let list = "{ accessTokens(first: 100) { nodes { id agency role purpose note issuedBy expiresAt revokedAt } } }";
    let admin = app.query(&app.token("admin"), list).await;
    let text = admin.body.to_string();
    assert!(
        !text.contains(&police_token) && !text.contains(&iom_token),
        "token values are never shown"
    );
    let ids: Vec<&str> = admin.data()["accessTokens"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id"))
        .collect();
    assert!(ids.contains(&police_id.as_str()) && ids.contains(&iom_id.as_str()));

    // An agency role sees its own agency's tokens only.
    let own = app.query(&police_token, list).await;
    for node in own.data()["accessTokens"]["nodes"]
        .as_array()
        .expect("nodes")
    {
        assert_eq!(node["agency"], "POLRES-JKP");
    }
    assert_eq!(
        own.data()["accessTokens"]["nodes"][0]["note"],
        "liaison laptop"
    );
}

/// Sends one request with `token` on an open keep-alive connection; the response head.
async fn on_connection(stream: &mut tokio::net::TcpStream, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = r#"{"query":"{ viewer { role } }"}"#;
    let request = format!(
        "POST /graphql HTTP/1.1\r\nhost: gateway\r\nconnection: keep-alive\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).await.expect("read"),
            1,
            "connection closed early"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("utf-8").to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("body");
    head
}

async fn a_revoked_token_is_refused_on_the_very_next_request(app: TestApp) {
    let (token, id) = issue(&app, "police", "POLRES-JKP").await;
    assert_eq!(app.query(&token, "{ viewer { role } }").await.status, 200);
    // A client holding a keep-alive connection that this token used.
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut connection = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let head = on_connection(&mut connection, &token).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let revoke = "mutation($id: ID!) { revokeToken(id: $id) { id revokedAt revokedBy } }";
    let reply = app
        .query_vars(&app.token("admin"), revoke, json!({ "id": id }))
        .await;
    assert!(reply.data()["revokeToken"]["revokedAt"].is_string());
    let refused = app.query(&token, "{ viewer { role } }").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.code(), Some("TOKEN_REVOKED"));
    assert!(refused.body.get("data").is_none());
    // Its next request on the open connection is refused, and the gateway closes it.
    let head = on_connection(&mut connection, &token).await;
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let mut rest = [0u8; 1];
    let read = tokio::io::AsyncReadExt::read(&mut connection, &mut rest)
        .await
        .unwrap_or(0);
    assert_eq!(read, 0, "the connection is closed after the refusal");
}

async fn agencies_revoke_their_own_tokens_only(app: TestApp) {
    let (police_token, police_id) = issue(&app, "police", "POLRES-JKP").await;
    let (_, iom_id) = issue(&app, "iom", "IOM-JKT").await;
    let revoke = "mutation($id: ID!) { revokeToken(id: $id) { id } }";
    let other = app
        .query_vars(&police_token, revoke, json!({ "id": iom_id }))
        .await;
    assert_eq!(other.code(), Some("NOT_FOUND"), "{}", other.body);
    let (second_police, second_id) = issue(&app, "police", "POLRES-JKP").await;
    let own = app
        .query_vars(&police_token, revoke, json!({ "id": second_id }))
        .await;
    assert_eq!(own.data()["revokeToken"]["id"], second_id.as_str());
    assert_eq!(
        app.query(&second_police, "{ viewer { role } }")
            .await
            .code(),
        Some("TOKEN_REVOKED")
    );
    assert_eq!(
        app.query(&police_token, "{ viewer { role } }").await.status,
        200,
        "{police_id} still works"
    );

    // Cutting a whole agency off.
    let n = app
        .query(
            &app.token("admin"),
            "mutation { revokeTokensOfAgency(agency: \"POLRES-JKP\") }",
        )
        .await;
    assert!(n.data()["revokeTokensOfAgency"].as_i64().expect("count") >= 1);
    assert_eq!(
        app.query(&police_token, "{ viewer { role } }").await.code(),
        Some("TOKEN_REVOKED")
    );
}

async fn cutting_an_agency_off_reaches_tokens_that_are_not_stored(app: TestApp) {
    // Development tokens (signed, never stored) of two agencies, and a stored one.
    let police_dev = app.token("police");
    let iom_dev = app.token("iom");
    let (police_stored, _) = issue(&app, "police", "POLRES-JKP").await;
    for token in [&police_dev, &iom_dev, &police_stored] {
        assert_eq!(app.query(token, "{ viewer { role } }").await.status, 200);
    }
    let reply = app
        .query(
            &app.token("admin"),
            "mutation { revokeTokensOfAgency(agency: \"POLRES-JKP\") }",
        )
        .await;
    assert_eq!(
        reply.data()["revokeTokensOfAgency"],
        json!(1),
        "one stored token"
    );
    for token in [&police_dev, &police_stored] {
        let refused = app.query(token, "{ viewer { role } }").await;
        assert_eq!(
            (refused.status, refused.code()),
            (401, Some("TOKEN_REVOKED"))
        );
    }
    assert_eq!(
        app.query(&iom_dev, "{ viewer { role } }").await.status,
        200,
        "other agencies keep working"
    );
    // Tokens issued after the cut-off let the agency back in.
    let later = {
        let now = chrono::Utc::now().timestamp();
        gateway::auth::Claims {
            iss: "pora-gateway".into(),
            aud: "pora".into(),
            sub: "officer-after".into(),
            exp: now + 600,
            nbf: now,
            iat: now + 2,
            jti: uuid::Uuid::new_v4().to_string(),
            role: "police".into(),
            agency: "POLRES-JKP".into(),
            jurisdiction: "31.71".into(),
            purpose: None,
            scope: None,
        }
    };
    let readmitted = app.sign(&later);
    assert_eq!(
        app.query(&readmitted, "{ viewer { role } }").await.status,
        200
    );
}

async fn another_gateway_honours_a_revocation_within_a_second(app: TestApp) {
    let (url, dir) = (app.database_url.clone(), app.data_dir.clone());
    let second = spawn_with(app.backend, |c| {
        c.database_url = Some(url);
        c.data_dir = dir;
        c.demo_data = Some(false);
    })
    .await;
    let (token, id) = issue(&app, "iom", "IOM-JKT").await;
    assert_eq!(
        second.query(&token, "{ viewer { role } }").await.status,
        200
    );
    let revoked_at = Instant::now();
    app.query_vars(
        &app.token("admin"),
        "mutation($id: ID!) { revokeToken(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await
    .data();
    // Ask the other gateway until it refuses; it must within a second.
    loop {
        let reply = second.query(&token, "{ viewer { role } }").await;
        if reply.code() == Some("TOKEN_REVOKED") {
            break;
        }
        assert_eq!(reply.status, 200);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "still accepted after a second"
        );
    }
    assert!(revoked_at.elapsed() < Duration::from_secs(1));
}

async fn lifetimes_and_roles_are_checked_at_issue(app: TestApp) {
    let store = TokenStore::new(app.db.clone());
    let roles = allowed();
    let too_long = store
        .issue(
            &app.auth,
            request("police", "POLRES-JKP", 13),
            chrono::Duration::hours(12),
            &roles,
        )
        .await;
    assert!(matches!(
        too_long,
        Err(TokenError::TooLong {
            max_hours: 12,
            asked_hours: 13,
            ..
        })
    ));
    let unknown = store
        .issue(
            &app.auth,
            request("sheriff", "X", 1),
            chrono::Duration::hours(12),
            &roles,
        )
        .await;
    assert!(matches!(unknown, Err(TokenError::UnknownRole(_))));
    assert!(
        store.list(None).await.expect("list").is_empty(),
        "nothing stored for refused requests"
    );
}

const ISSUE: &str = "mutation($input: IssueTokenInput!) { issueToken(input: $input) { token accessToken { id agency role issuedBy purpose expiresAt } } }";

fn issue_input(role: &str, ttl: &str) -> serde_json::Value {
    json!({ "input": { "role": role, "agency": "UNHCR-JKT", "jurisdiction": "31", "subject": "liaison-1",
                       "ttl": ttl, "purpose": "PROTECTION", "note": "liaison laptop" } })
}

async fn administrators_issue_tokens_over_graphql(app: TestApp) {
    let admin = app.token("admin");
    let reply = app
        .query_vars(&admin, ISSUE, issue_input("unhcr", "8h"))
        .await;
    let issued = reply.data()["issueToken"].clone();
    let token = issued["token"].as_str().expect("token").to_owned();
    assert_eq!(issued["accessToken"]["agency"], "UNHCR-JKT");
    assert_eq!(issued["accessToken"]["issuedBy"], "test-admin");
    let viewer = app
        .query(&token, "{ viewer { role agency jurisdiction subject } }")
        .await;
    assert_eq!(
        viewer.data()["viewer"],
        json!({ "role": "unhcr", "agency": "UNHCR-JKT", "jurisdiction": "31", "subject": "liaison-1" })
    );
    // The value is shown once: never in a listing.
    let list = app
        .query(&admin, "{ accessTokens(first: 100) { nodes { id note } } }")
        .await;
    assert!(!list.body.to_string().contains(&token));

    // Refusals are typed, answered 403, and store nothing.
    let before = TokenStore::new(app.db.clone())
        .list(None)
        .await
        .expect("list")
        .len();
    let too_long = app
        .query_vars(&admin, ISSUE, issue_input("unhcr", "13h"))
        .await;
    assert_eq!(
        (too_long.status, too_long.code()),
        (403, Some("TOKEN_LIFETIME_TOO_LONG")),
        "{}",
        too_long.body
    );
    let unknown = app
        .query_vars(&admin, ISSUE, issue_input("sheriff", "1h"))
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (403, Some("TOKEN_ROLE_UNKNOWN"))
    );
    assert_eq!(
        TokenStore::new(app.db.clone())
            .list(None)
            .await
            .expect("list")
            .len(),
        before
    );

    // Only administrators issue.
    let police = app
        .query_vars(&app.token("police"), ISSUE, issue_input("unhcr", "1h"))
        .await;
    assert_eq!(police.status, 400);
    assert_eq!(police.code(), Some("GRAPHQL_VALIDATION_FAILED"));
}

on_both_databases!(
    administrators_issue_tokens_over_graphql,
    issued_tokens_are_listed_without_their_values,
    a_revoked_token_is_refused_on_the_very_next_request,
    agencies_revoke_their_own_tokens_only,
    cutting_an_agency_off_reaches_tokens_that_are_not_stored,
    another_gateway_honours_a_revocation_within_a_second,
    lifetimes_and_roles_are_checked_at_issue,
);
