//! User B must not read, count, mark, archive or subscribe to user A's notifications, by any
//! path: the federated `User`, `_entities` for `Notification`, root queries, mutations, REST.

use serde_json::{Value, json};

use crate::helpers::{INBOX, error_code, new_user, spawn_app, user_rep};

#[tokio::test]
async fn another_users_inbox_is_out_of_reach() {
    let app = spawn_app().await;
    let alice = new_user();
    let bob = new_user();
    let bob_token = app.issuer.user_token(&bob);
    let note = app.notify(&alice, "Alice's order", "ORDER_UPDATES").await;

    // Reading or counting Alice's inbox through the federated User.
    let inbox = app.graphql(INBOX, user_rep(&alice), Some(&bob_token)).await;
    assert_eq!(error_code(&inbox), "FORBIDDEN", "{inbox}");
    assert!(!inbox.to_string().contains("Alice's order"), "{inbox}");
    let count = app
        .graphql(
            "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { unreadNotificationCount } } }",
            user_rep(&alice),
            Some(&bob_token),
        )
        .await;
    assert_eq!(error_code(&count), "FORBIDDEN", "{count}");

    // Resolving Alice's notification as an entity, or by id.
    let entity = app
        .graphql(
            "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Notification { id title } } }",
            json!({"reps": [{"__typename": "Notification", "id": note}]}),
            Some(&bob_token),
        )
        .await;
    assert_eq!(entity["data"]["_entities"], json!([null]), "{entity}");
    let by_id = app
        .graphql(
            "query($id: ID!) { notification(id: $id) { id } }",
            json!({"id": note}),
            Some(&bob_token),
        )
        .await;
    assert_eq!(by_id["data"]["notification"], Value::Null);

    // Marking or archiving it: NOT_FOUND, revealing nothing.
    for mutation in [
        "mutation($id: ID!) { markNotificationRead(id: $id) { id } }",
        "mutation($id: ID!) { markNotificationUnread(id: $id) { id } }",
        "mutation($id: ID!) { archiveNotification(id: $id) { id } }",
    ] {
        let body = app
            .graphql(mutation, json!({"id": note}), Some(&bob_token))
            .await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{mutation}: {body}");
    }
    let all = app
        .graphql(
            "mutation { markAllNotificationsRead }",
            json!({}),
            Some(&bob_token),
        )
        .await;
    assert_eq!(all["data"]["markAllNotificationsRead"], 0);

    // Alice's notification is untouched, and she can see it.
    let alice_token = app.issuer.user_token(&alice);
    let hers = app
        .graphql(INBOX, user_rep(&alice), Some(&alice_token))
        .await;
    assert_eq!(
        hers["data"]["_entities"][0]["unreadNotificationCount"], 1,
        "{hers}"
    );
    let entity = app
        .graphql(
            "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Notification { id } } }",
            json!({"reps": [{"__typename": "Notification", "id": note}]}),
            Some(&alice_token),
        )
        .await;
    assert_eq!(entity["data"]["_entities"][0]["id"], note.as_str());

    // An admin may read any inbox.
    let admin = app.issuer.token("ops", &[herald_service::Role::Admin]);
    let as_admin = app.graphql(INBOX, user_rep(&alice), Some(&admin)).await;
    assert_eq!(
        as_admin["data"]["_entities"][0]["unreadNotificationCount"], 1,
        "{as_admin}"
    );

    // Anonymous callers get nothing.
    let anonymous = app.graphql(INBOX, user_rep(&alice), None).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

    // REST: Bob's unread list holds none of Alice's; marking hers is a 404.
    let unread: Value = app
        .client
        .get(format!("{}/notifications/unread", app.address))
        .bearer_auth(&bob_token)
        .send()
        .await
        .expect("unread")
        .json()
        .await
        .expect("json");
    assert_eq!(unread, json!([]));
    let put = app
        .client
        .put(format!("{}/notifications/{note}/read", app.address))
        .bearer_auth(&bob_token)
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 404);
    let post = app
        .client
        .post(format!("{}/notifications", app.address))
        .bearer_auth(&bob_token)
        .json(&json!({"user_id": alice, "type": "promotions", "content": "spam"}))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 403, "a shopper cannot write into inboxes");
}
