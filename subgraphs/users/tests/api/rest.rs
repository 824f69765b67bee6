use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Store, spawn_app, unique_email};

#[tokio::test]
async fn seed_rest_routes_work_as_before() {
    let app = spawn_app(Store::Postgres).await;
    let email = unique_email("seed");
    let created = app
        .client
        .post(format!("{}/users", app.address))
        .json(
            &json!({"name": "Seed Shopper", "email": email, "password": PASSWORD,
                      "preferences": ["promotions", "order_updates"]}),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), 201);
    let user: Value = created.json().await.expect("json");
    let id = user["id"].as_str().expect("id").to_owned();
    assert_eq!(
        user["preferences"],
        json!(["promotions", "order_updates", "account"])
    );
    assert_eq!(
        user["notification_preferences"]["RECOMMENDATIONS"]["IN_APP"],
        false
    );
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());

    let login = app
        .client
        .post(format!("{}/users/login", app.address))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.expect("json");
    assert_eq!(login["token_type"], "bearer");
    let token = login["access_token"].as_str().expect("token").to_owned();

    let fetched: Value = app
        .client
        .get(format!("{}/users/{id}", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(fetched["email"], email.as_str());

    let updated = app
        .client
        .put(format!("{}/users/{id}", app.address))
        .bearer_auth(&token)
        .json(&json!({"name": "Renamed", "preferences": ["recommendations"]}))
        .send()
        .await
        .expect("put");
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.expect("json");
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(
        updated["preferences"],
        json!(["recommendations", "account"])
    );

    // Someone else's record, no token, a bad token, bad input.
    let (_, other_token) = app.shopper("other").await;
    let forbidden = app
        .client
        .get(format!("{}/users/{id}", app.address))
        .bearer_auth(&other_token)
        .send()
        .await
        .expect("get");
    assert_eq!(forbidden.status(), 403);
    let body: Value = forbidden.json().await.expect("json");
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    let put_other = app
        .client
        .put(format!("{}/users/{id}", app.address))
        .bearer_auth(&other_token)
        .json(&json!({"name": "Hijacked"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put_other.status(), 403);
    let anonymous = app
        .client
        .get(format!("{}/users/{id}", app.address))
        .send()
        .await
        .expect("get");
    assert_eq!(anonymous.status(), 401);
    let wrong_login = app
        .client
        .post(format!("{}/users/login", app.address))
        .json(&json!({"email": email, "password": "nope nope nope"}))
        .send()
        .await
        .expect("login");
    assert_eq!(wrong_login.status(), 401);
    let malformed = app
        .client
        .post(format!("{}/users", app.address))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("post");
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.expect("json");
    assert_eq!(body["error"]["code"], "BAD_USER_INPUT");
    let unknown_pref = app
        .client
        .post(format!("{}/users", app.address))
        .json(
            &json!({"name": "X", "email": unique_email("x"), "password": PASSWORD,
                      "preferences": ["spam"]}),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(unknown_pref.status(), 400);
    let duplicate = app
        .client
        .post(format!("{}/users", app.address))
        .json(&json!({"name": "Again", "email": email.to_uppercase(), "password": PASSWORD}))
        .send()
        .await
        .expect("post");
    assert_eq!(duplicate.status(), 409);
}
