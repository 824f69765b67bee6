use chrono::Utc;
use herald_service::auth::Role;
use herald_service::testing::TestIssuer;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{Platform, Subgraphs, error_code};

const ME: &str = "{ me { id name } }";

fn assert_rejected_at_the_router(status: u16, body: &Value) {
    // A subgraph refusing a token answers 200 with a `me` error; the router answers 401
    // before planning, with no data at all.
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_code(body), "UNAUTHENTICATED", "{body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
}

/// A token signed with the users service's own key, but expired an hour ago.
async fn expired_token(platform: &Platform, user_id: &str) -> String {
    let pem = std::fs::read(platform.dir.join("data/users-signing-key.pem"))
        .expect("the users service's dev signing key");
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", platform.users_url))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = jwks["keys"][0]["kid"].as_str().map(str::to_owned);
    let now = Utc::now().timestamp();
    let claims = json!({
        "sub": user_id, "iss": "herald-users", "aud": "herald",
        "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600,
        "jti": uuid::Uuid::new_v4().to_string(), "roles": ["user"],
    });
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ed_pem(&pem).expect("ed25519 pem"),
    )
    .expect("sign")
}

#[tokio::test]
async fn forged_tampered_and_expired_tokens_are_rejected_at_the_router() {
    let platform = Platform::start(Subgraphs::UsersAndNotifications).await;
    let (id, token) = platform.register_and_login("Ada").await;

    // The genuine token works.
    let body = platform.graphql(ME, json!({}), Some(&token)).await;
    assert_eq!(body["data"]["me"]["id"], json!(id), "{body}");

    // Signed by a key the users service never published.
    let forger = TestIssuer::new(&platform.dir.join("forger"));
    let forged = forger.token(&id, &[Role::User, Role::Admin]);
    let (status, body) = platform.graphql_status(ME, json!({}), Some(&forged)).await;
    assert_rejected_at_the_router(status, &body);

    // The genuine token with its claims edited (the signature no longer matches).
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    let tampered = parts.join(".");
    let (status, body) = platform
        .graphql_status(ME, json!({}), Some(&tampered))
        .await;
    assert_rejected_at_the_router(status, &body);

    // The right key, but expired.
    let expired = expired_token(&platform, &id).await;
    let (status, body) = platform.graphql_status(ME, json!({}), Some(&expired)).await;
    assert_rejected_at_the_router(status, &body);

    // Garbage in the header.
    let (status, body) = platform
        .graphql_status(ME, json!({}), Some("not-a-jwt"))
        .await;
    assert_rejected_at_the_router(status, &body);

    // No token at all is not an error at the router: `me` itself says who may read it.
    let (status, body) = platform.graphql_status(ME, json!({}), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn a_query_over_the_depth_limit_is_rejected_with_a_clear_error() {
    let platform = Platform::start(Subgraphs::UsersAndNotifications).await;
    let (_, token) = platform.register_and_login("Ada").await;

    // Depth 7: fine.
    let ok = "{ me { notifications { edges { node { recipient { name } } } } } }";
    let body = platform.graphql(ok, json!({}), Some(&token)).await;
    assert!(body.get("errors").is_none(), "{body}");

    // Depth 12: the limit in router.yaml is 10.
    let deep = "{ me { notifications { edges { node { recipient { notifications { edges { node { recipient { notifications { pageInfo { hasNextPage } } } } } } } } } } } }";
    let (status, body) = platform.graphql_status(deep, json!({}), Some(&token)).await;
    assert_ne!(status, 500, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.to_lowercase().contains("depth"),
        "the error says what was wrong: {body}"
    );
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");

    // Aliases are bounded too.
    let aliases: String = (0..25).map(|i| format!("a{i}: __typename ")).collect();
    let body = platform
        .graphql(&format!("{{ {aliases} }}"), json!({}), Some(&token))
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.to_lowercase().contains("alias")),
        "{body}"
    );
}

/// User B tries every federated way into user A's inbox.
#[tokio::test]
async fn user_b_cannot_reach_user_a_inbox_through_any_federated_path() {
    let platform = Platform::start(Subgraphs::UsersAndNotifications).await;
    let (a, token_a) = platform.register_and_login("Alice").await;
    let (_, token_b) = platform.register_and_login("Bob").await;

    // A's welcome notification, as A sees it.
    let body = platform
        .poll(
            "{ me { notifications(first: 5) { edges { node { id } } } } }",
            &token_a,
            |b| b["data"]["me"]["notifications"]["edges"][0]["node"]["id"].is_string(),
        )
        .await;
    let notification = body["data"]["me"]["notifications"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // Through the users entry point: A's user, then the inbox fields notifications adds.
    let body = platform
        .graphql(
            "query($id: ID!) { user(id: $id) { id notifications(first: 5) { edges { node { title } } } unreadNotificationCount } }",
            json!({ "id": a }),
            Some(&token_b),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert!(body["data"]["user"].is_null(), "{body}");

    // Through the notification entity and back to its recipient.
    let body = platform
        .graphql(
            "query($id: ID!) { notification(id: $id) { title recipient { id email notifications { edges { node { title } } } } } }",
            json!({ "id": notification }),
            Some(&token_b),
        )
        .await;
    assert!(body["data"]["notification"].is_null(), "{body}");

    // Through the mutations, which must not even confirm the id exists.
    for mutation in [
        "markNotificationRead",
        "markNotificationUnread",
        "archiveNotification",
    ] {
        let body = platform
            .graphql(
                &format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id title }} }}"),
                json!({ "id": notification }),
                Some(&token_b),
            )
            .await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{mutation}: {body}");
    }

    // And A's inbox is untouched.
    let body = platform
        .graphql(
            "{ me { unreadNotificationCount } }",
            json!({}),
            Some(&token_a),
        )
        .await;
    assert_eq!(
        body["data"]["me"]["unreadNotificationCount"],
        json!(1),
        "{body}"
    );
}
