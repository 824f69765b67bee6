use serde_json::json;

use crate::helpers::{Platform, Subgraphs};

const INBOX: &str = "{ me { name unreadNotificationCount \
    notifications(first: 5) { edges { node { title category } } } } }";

/// Register and log in through the router, then one query served by users (name) and
/// notifications (the inbox, filled by the worker from the `user.registered` event).
#[tokio::test]
async fn register_login_and_a_query_across_users_and_notifications() {
    let platform = Platform::start(Subgraphs::UsersAndNotifications).await;
    let (_, token) = platform.register_and_login("Ada").await;

    let body = platform
        .poll(INBOX, &token, |b| {
            b["data"]["me"]["unreadNotificationCount"]
                .as_i64()
                .is_some_and(|n| n >= 1)
        })
        .await;
    assert_eq!(body["data"]["me"]["name"], json!("Ada"), "{body}");
    let first = &body["data"]["me"]["notifications"]["edges"][0]["node"];
    assert_eq!(first["title"], json!("Welcome, Ada!"), "{body}");
    assert_eq!(first["category"], json!("ACCOUNT"), "{body}");
    assert!(body.get("errors").is_none(), "{body}");
}

/// The query of the issue: one request that every subgraph answers a part of.
#[tokio::test]
async fn one_query_spans_users_notifications_and_recommendations() {
    let platform = Platform::start(Subgraphs::All).await;
    let (_, token) = platform.register_and_login("Grace").await;

    let body = platform
        .poll(
            "{ me { name unreadNotificationCount \
               notifications(first: 5) { edges { node { title category } } } \
               recommendations(first: 3) { product { name } reason } } }",
            &token,
            |b| {
                b["data"]["me"]["unreadNotificationCount"]
                    .as_i64()
                    .is_some_and(|n| n >= 1)
            },
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["me"]["name"], json!("Grace"));
    assert!(
        body["data"]["me"]["recommendations"].is_array(),
        "recommendations resolved through the User entity: {body}"
    );
}
