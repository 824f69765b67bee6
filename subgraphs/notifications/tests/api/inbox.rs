use serde_json::json;

use crate::helpers::{INBOX, error_code, new_user, spawn_app, user_rep};

#[tokio::test]
async fn a_shopper_reads_pages_and_manages_their_inbox() {
    let app = spawn_app().await;
    let user = new_user();
    let token = app.issuer.user_token(&user);
    let first = app
        .notify(&user, "Your order shipped", "ORDER_UPDATES")
        .await;
    let second = app.notify(&user, "20% off shoes", "PROMOTIONS").await;

    let body = app.graphql(INBOX, user_rep(&user), Some(&token)).await;
    let inbox = &body["data"]["_entities"][0];
    assert_eq!(inbox["unreadNotificationCount"], 2, "{body}");
    let edges = inbox["notifications"]["edges"].as_array().expect("edges");
    assert_eq!(edges[0]["node"]["id"], second.as_str(), "newest first");
    assert_eq!(edges[1]["node"]["id"], first.as_str());

    let marked = app
        .graphql(
            "mutation($id: ID!) { markNotificationRead(id: $id) { read readAt } }",
            json!({"id": first}),
            Some(&token),
        )
        .await;
    assert_eq!(
        marked["data"]["markNotificationRead"]["read"], true,
        "{marked}"
    );
    let unread_only = app
        .graphql(
            "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User {
                notifications(unreadOnly: true) { edges { node { id } } } unreadNotificationCount } } }",
            user_rep(&user),
            Some(&token),
        )
        .await;
    let entity = &unread_only["data"]["_entities"][0];
    assert_eq!(entity["unreadNotificationCount"], 1);
    assert_eq!(
        entity["notifications"]["edges"][0]["node"]["id"],
        second.as_str()
    );

    let unmarked = app
        .graphql(
            "mutation($id: ID!) { markNotificationUnread(id: $id) { read } }",
            json!({"id": first}),
            Some(&token),
        )
        .await;
    assert_eq!(unmarked["data"]["markNotificationUnread"]["read"], false);

    let all = app
        .graphql(
            "mutation { markAllNotificationsRead(category: PROMOTIONS) }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(all["data"]["markAllNotificationsRead"], 1, "{all}");

    let archived = app
        .graphql(
            "mutation($id: ID!) { archiveNotification(id: $id) { archivedAt } }",
            json!({"id": first}),
            Some(&token),
        )
        .await;
    assert!(
        archived["data"]["archiveNotification"]["archivedAt"].is_string(),
        "{archived}"
    );
    let after = app.graphql(INBOX, user_rep(&user), Some(&token)).await;
    let edges = after["data"]["_entities"][0]["notifications"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(
        edges.len(),
        1,
        "archived notifications leave the default listing"
    );
    assert_eq!(after["data"]["_entities"][0]["unreadNotificationCount"], 0);

    let one = app
        .graphql(
            "query($id: ID!) { notification(id: $id) { title data recipient { id } } }",
            json!({"id": second}),
            Some(&token),
        )
        .await;
    assert_eq!(
        one["data"]["notification"]["data"],
        json!({"orderId": "o-1"})
    );
    assert_eq!(
        one["data"]["notification"]["recipient"]["id"],
        user.as_str()
    );
}

#[tokio::test]
async fn pages_follow_cursors_and_first_is_capped() {
    let app = spawn_app().await;
    let user = new_user();
    let token = app.issuer.user_token(&user);
    for i in 0..5 {
        app.notify(&user, &format!("n{i}"), "ACCOUNT").await;
    }
    let query = "query($reps: [_Any!]!, $after: String) { _entities(representations: $reps) { ... on User {
        notifications(first: 2, after: $after) { edges { node { title } } pageInfo { hasNextPage endCursor } } } } }";
    let mut titles = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let body = app
            .graphql(
                query,
                json!({"reps": [{"__typename": "User", "id": user}], "after": after}),
                Some(&token),
            )
            .await;
        let connection = &body["data"]["_entities"][0]["notifications"];
        for edge in connection["edges"].as_array().expect("edges") {
            titles.push(edge["node"]["title"].as_str().expect("title").to_owned());
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(titles, vec!["n4", "n3", "n2", "n1", "n0"]);

    let bad_cursor = app
        .graphql(
            query,
            json!({"reps": [{"__typename": "User", "id": user}], "after": "garbage!"}),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&bad_cursor), "BAD_USER_INPUT", "{bad_cursor}");
    let huge = app
        .graphql(
            "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User {
                notifications(first: 100000) { edges { cursor } } } } }",
            user_rep(&user),
            Some(&token),
        )
        .await;
    assert_eq!(
        huge["data"]["_entities"][0]["notifications"]["edges"]
            .as_array()
            .expect("edges")
            .len(),
        5
    );
}

#[tokio::test]
async fn create_notification_is_idempotent_and_for_services_only() {
    let app = spawn_app().await;
    let user = new_user();
    let mutation = "mutation($input: CreateNotificationInput!) {
        createNotification(input: $input) { created notification { id title } } }";
    let input = json!({"input": {"recipientId": user, "category": "ORDER_UPDATES", "title": "Shipped",
                                 "idempotencyKey": "order-42-shipped"}});
    let first = app
        .graphql(mutation, input.clone(), Some(&app.service_token()))
        .await;
    let second = app
        .graphql(mutation, input.clone(), Some(&app.service_token()))
        .await;
    assert_eq!(
        first["data"]["createNotification"]["created"], true,
        "{first}"
    );
    assert_eq!(
        second["data"]["createNotification"]["created"], false,
        "{second}"
    );
    assert_eq!(
        first["data"]["createNotification"]["notification"]["id"],
        second["data"]["createNotification"]["notification"]["id"]
    );
    let count = app
        .graphql(INBOX, user_rep(&user), Some(&app.issuer.user_token(&user)))
        .await;
    assert_eq!(count["data"]["_entities"][0]["unreadNotificationCount"], 1);

    let as_shopper = app
        .graphql(mutation, input.clone(), Some(&app.issuer.user_token(&user)))
        .await;
    assert_eq!(error_code(&as_shopper), "FORBIDDEN", "{as_shopper}");
    let anonymous = app.graphql(mutation, input, None).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

    let invalid = app
        .graphql(
            mutation,
            json!({"input": {"recipientId": user, "category": "PROMOTIONS", "title": "  ",
                             "idempotencyKey": "k"}}),
            Some(&app.service_token()),
        )
        .await;
    assert_eq!(error_code(&invalid), "BAD_USER_INPUT");
    assert_eq!(invalid["errors"][0]["extensions"]["field"], "title");
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = spawn_app().await;
    let ready: serde_json::Value = app
        .client
        .get(format!("{}/ready", app.address))
        .send()
        .await
        .expect("ready")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "ready", "{ready}");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("m")
        .text()
        .await
        .expect("t");
    assert!(metrics.contains("service=\"notifications\""), "{metrics}");
}
