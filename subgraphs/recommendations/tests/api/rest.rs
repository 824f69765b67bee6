//! The seed REST route.

use serde_json::Value;

use crate::helpers::{new_user, spawn_app};

#[tokio::test]
async fn seed_rest_recommendations_for_self_or_admin_only() {
    let app = spawn_app().await;
    let me = new_user();
    app.record(&me, "p-0001", "VIEWED").await;
    app.seed_views(12).await;
    let url = format!("{}/recommendations/{me}", app.address);
    let response = app
        .client
        .get(&url)
        .bearer_auth(app.issuer.user_token(&me))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user_id"], me.as_str());
    let products = body["products"].as_array().expect("products");
    assert_eq!(products.len(), 10, "{body}");
    for p in products {
        for key in [
            "id", "name", "category", "price", "in_stock", "score", "reason",
        ] {
            assert!(!p[key].is_null(), "{key} missing in {p}");
        }
    }
    assert!(body["created_at"].as_str().is_some_and(|t| t.contains('T')));

    let response = app
        .client
        .get(&url)
        .bearer_auth(app.issuer.user_token(&new_user()))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    let response = app.client.get(&url).send().await.expect("request");
    assert_eq!(response.status(), 401);
    let response = app
        .client
        .get(format!("{url}?limit=3"))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["products"].as_array().map(Vec::len), Some(3));
    let response = app
        .client
        .get(format!("{url}?limit=-1"))
        .bearer_auth(app.issuer.user_token(&me))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "BAD_USER_INPUT");
}
