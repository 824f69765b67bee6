use serde_json::{Value, json};

use crate::helpers::{new_user, spawn_app};

#[tokio::test]
async fn seed_rest_routes_work_as_before() {
    let app = spawn_app().await;
    let user = new_user();
    let token = app.issuer.user_token(&user);
    let created = app
        .client
        .post(format!("{}/notifications", app.address))
        .bearer_auth(app.service_token())
        .header("idempotency-key", "seed-1")
        .json(&json!({"user_id": user, "type": "order_update", "content": "Your parcel is on its way", "read": false}))
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["type"], "order_updates");
    assert_eq!(created["read"], false);
    let id = created["_id"].as_str().expect("_id").to_owned();

    let repeat = app
        .client
        .post(format!("{}/notifications", app.address))
        .bearer_auth(app.service_token())
        .header("idempotency-key", "seed-1")
        .json(&json!({"user_id": user, "type": "order_update", "content": "Your parcel is on its way"}))
        .send()
        .await
        .expect("post");
    assert_eq!(
        repeat.status(),
        200,
        "a repeated idempotency key returns the original"
    );

    app.client
        .post(format!("{}/notifications", app.address))
        .bearer_auth(app.service_token())
        .json(&json!({"user_id": user, "type": "newsletter", "content": "Already seen", "read": true}))
        .send()
        .await
        .expect("post");

    let unread: Vec<Value> = app
        .client
        .get(format!("{}/notifications/unread", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(unread.len(), 1);
    assert_eq!(unread[0]["_id"], id.as_str());
    assert_eq!(unread[0]["user_id"], user.as_str());
    assert_eq!(unread[0]["content"], "Your parcel is on its way");
    assert!(unread[0]["sent_at"].is_string());

    let put = app
        .client
        .put(format!("{}/notifications/{id}/read", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 204);
    let unread: Vec<Value> = app
        .client
        .get(format!("{}/notifications/unread", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(unread.is_empty());

    let anonymous = app
        .client
        .get(format!("{}/notifications/unread", app.address))
        .send()
        .await
        .expect("get");
    assert_eq!(anonymous.status(), 401);
    let bad = app
        .client
        .post(format!("{}/notifications", app.address))
        .bearer_auth(app.service_token())
        .json(&json!({"user_id": user}))
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body["error"]["code"], "BAD_USER_INPUT");
}
