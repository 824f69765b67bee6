use serde_json::json;

use crate::helpers::{PASSWORD, Store, error_code, spawn_app, unique_email};

async fn register_login_me_round_trip(store: Store) {
    let app = spawn_app(store).await;
    let email = unique_email("ada");
    let id = app.register(&email, PASSWORD).await;

    let login = app.login(&email, PASSWORD).await;
    let payload = &login["data"]["login"];
    assert_eq!(payload["tokenType"], "Bearer", "{login}");
    assert_eq!(payload["expiresIn"], 3600);
    assert_eq!(payload["user"]["id"], id.as_str());
    let token = payload["accessToken"].as_str().expect("token");

    let me = app
        .graphql(
            "{ me { id name email roles preferences { promotions { inApp email webhook }
                   account { inApp } allows(category: ORDER_UPDATES, channel: EMAIL) } } }",
            json!({}),
            Some(token),
        )
        .await;
    let me = &me["data"]["me"];
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["roles"], json!(["USER"]));
    assert_eq!(
        me["preferences"]["promotions"],
        json!({"inApp": true, "email": false, "webhook": false})
    );
    assert_eq!(me["preferences"]["account"]["inApp"], true);
    assert_eq!(me["preferences"]["allows"], true);
}

#[tokio::test]
async fn register_login_me_round_trip_on_postgres() {
    register_login_me_round_trip(Store::Postgres).await;
}

#[tokio::test]
async fn register_login_me_round_trip_on_sqlite() {
    register_login_me_round_trip(Store::Sqlite).await;
}

async fn duplicate_email_in_other_case_conflicts(store: Store) {
    let app = spawn_app(store).await;
    let email = unique_email("Grace");
    app.register(&email, PASSWORD).await;
    let body = app
        .graphql(
            "mutation($input: RegisterInput!) { register(input: $input) { id } }",
            json!({"input": {"name": "Other", "email": email.to_uppercase(), "password": PASSWORD}}),
            None,
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    assert!(body["data"].is_null(), "{body}");
}

#[tokio::test]
async fn duplicate_email_in_other_case_conflicts_on_postgres() {
    duplicate_email_in_other_case_conflicts(Store::Postgres).await;
}

#[tokio::test]
async fn duplicate_email_in_other_case_conflicts_on_sqlite() {
    duplicate_email_in_other_case_conflicts(Store::Sqlite).await;
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_error() {
    let app = spawn_app(Store::Postgres).await;
    let email = unique_email("linus");
    app.register(&email, PASSWORD).await;
    let wrong = app.login(&email, "not the password").await;
    let unknown = app.login(&unique_email("nobody"), PASSWORD).await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    assert_eq!(
        wrong["errors"], unknown["errors"],
        "the two failures must be indistinguishable"
    );
}

#[tokio::test]
async fn invalid_registrations_name_the_field_at_fault() {
    let app = spawn_app(Store::Sqlite).await;
    let cases = [
        (
            json!({"name": "A", "email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"name": "A", "email": unique_email("a"), "password": "short"}),
            "password",
        ),
        (
            json!({"name": "A", "email": unique_email("a"), "password": "x".repeat(129)}),
            "password",
        ),
        (
            json!({"name": "  ", "email": unique_email("a"), "password": PASSWORD}),
            "name",
        ),
        (
            json!({"name": "A", "email": unique_email("a"), "password": PASSWORD,
                   "preferences": {"account": {"inApp": false}}}),
            "preferences.account.inApp",
        ),
    ];
    for (input, field) in cases {
        let body = app
            .graphql(
                "mutation($input: RegisterInput!) { register(input: $input) { id } }",
                json!({"input": input}),
                None,
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn engine_errors_carry_a_code_and_no_internals() {
    let app = spawn_app(Store::Sqlite).await;
    for query in [
        "{ me { nope } }",
        "{ me ",
        "mutation { register(input: {name: 1}) { id } }",
    ] {
        let body = app.graphql(query, json!({}), None).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    }
}

#[tokio::test]
async fn a_shopper_cannot_read_another_user() {
    let app = spawn_app(Store::Postgres).await;
    let (alice, alice_token) = app.shopper("alice").await;
    let (bob, _) = app.shopper("bob").await;
    let query = "query($id: ID!) { user(id: $id) { id email } }";

    let own = app
        .graphql(query, json!({"id": alice}), Some(&alice_token))
        .await;
    assert_eq!(own["data"]["user"]["id"], alice.as_str(), "{own}");

    let other = app
        .graphql(query, json!({"id": bob}), Some(&alice_token))
        .await;
    assert_eq!(error_code(&other), "FORBIDDEN", "{other}");
    assert!(other["data"]["user"].is_null(), "{other}");

    let anonymous = app.graphql(query, json!({"id": bob}), None).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
}

#[tokio::test]
async fn entities_are_batched_and_authorized() {
    let app = spawn_app(Store::Postgres).await;
    let (alice, alice_token) = app.shopper("alice").await;
    let (bob, _) = app.shopper("bob").await;
    let query =
        "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { id name } } }";

    let own = app
        .graphql(
            query,
            json!({"reps": [{"__typename": "User", "id": alice}]}),
            Some(&alice_token),
        )
        .await;
    assert_eq!(own["data"]["_entities"][0]["id"], alice.as_str(), "{own}");

    let other = app
        .graphql(
            query,
            json!({"reps": [{"__typename": "User", "id": bob}]}),
            Some(&alice_token),
        )
        .await;
    assert_eq!(error_code(&other), "FORBIDDEN", "{other}");
}

#[tokio::test]
async fn update_me_changes_profile_and_preferences() {
    let app = spawn_app(Store::Postgres).await;
    let (_, token) = app.shopper("marie").await;
    let body = app
        .graphql(
            "mutation($input: UpdateMeInput!) { updateMe(input: $input) {
                name preferences { promotions { inApp email } recommendations { inApp } } } }",
            json!({"input": {"name": "Marie Curie", "preferences": {
                "promotions": {"email": true}, "recommendations": {"inApp": false}}}}),
            Some(&token),
        )
        .await;
    let user = &body["data"]["updateMe"];
    assert_eq!(user["name"], "Marie Curie", "{body}");
    assert_eq!(
        user["preferences"]["promotions"],
        json!({"inApp": true, "email": true})
    );
    assert_eq!(user["preferences"]["recommendations"]["inApp"], false);
}

#[tokio::test]
async fn password_change_requires_the_current_password() {
    let app = spawn_app(Store::Sqlite).await;
    let email = unique_email("pierre");
    app.register(&email, PASSWORD).await;
    let token = app.login(&email, PASSWORD).await["data"]["login"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let mutation = "mutation($input: UpdateMeInput!) { updateMe(input: $input) { id } }";

    let missing = app
        .graphql(
            mutation,
            json!({"input": {"newPassword": "a new passphrase"}}),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&missing), "BAD_USER_INPUT");
    let wrong = app
        .graphql(
            mutation,
            json!({"input": {"newPassword": "a new passphrase", "currentPassword": "guess"}}),
            Some(&token),
        )
        .await;
    assert_eq!(
        wrong["errors"][0]["extensions"]["field"], "currentPassword",
        "{wrong}"
    );
    let ok = app
        .graphql(
            mutation,
            json!({"input": {"newPassword": "a new passphrase", "currentPassword": PASSWORD}}),
            Some(&token),
        )
        .await;
    assert!(ok["errors"].is_null(), "{ok}");
    assert_eq!(
        error_code(&app.login(&email, PASSWORD).await),
        "UNAUTHENTICATED"
    );
    assert!(
        app.login(&email, "a new passphrase").await["data"]["login"]["accessToken"].is_string()
    );
}

#[tokio::test]
async fn login_is_rate_limited_per_email_and_client() {
    let app = spawn_app(Store::Sqlite).await;
    let email = unique_email("mallory");
    app.register(&email, PASSWORD).await;
    // The test settings allow 5 attempts a minute.
    for _ in 0..5 {
        assert_eq!(
            error_code(&app.login(&email, "wrong guess").await),
            "UNAUTHENTICATED"
        );
    }
    let limited = app.login(&email, PASSWORD).await;
    assert_eq!(error_code(&limited), "RATE_LIMITED", "{limited}");
    // Another account from the same client is not locked out by this one.
    let other = unique_email("other");
    app.register(&other, PASSWORD).await;
    assert!(app.login(&other, PASSWORD).await["data"]["login"]["accessToken"].is_string());
}

/// Concurrent edits of one account, while registrations and the outbox relay write too: every
/// edit must succeed (on SQLite a read-then-write transaction used to fail with
/// SQLITE_BUSY_SNAPSHOT) and none may be lost (on PostgreSQL each edit reads the row it locks).
async fn concurrent_preference_edits_all_land(store: Store) {
    let app = spawn_app(store).await;
    let (_, token) = app.shopper("racer").await;
    let mutation = "mutation($input: UpdateMeInput!) { updateMe(input: $input) { id } }";
    let edits = [
        json!({"promotions": {"email": true}}),
        json!({"promotions": {"webhook": true}}),
        json!({"recommendations": {"email": true}}),
        json!({"recommendations": {"webhook": true}}),
    ];
    let mut tasks = Vec::new();
    for (round, edit) in edits.iter().cycle().take(16).enumerate() {
        let body = json!({"input": {"preferences": edit}});
        let (app, token) = (&app, token.as_str());
        tasks.push(async move {
            if round % 4 == 0 {
                app.register(&unique_email("bystander"), PASSWORD).await;
            }
            app.graphql(mutation, body, Some(token)).await
        });
    }
    for body in futures::future::join_all(tasks).await {
        assert!(body.get("errors").is_none(), "{body}");
    }
    let me = app
        .graphql(
            "{ me { preferences { promotions { email webhook } recommendations { email webhook } } } }",
            json!({}),
            Some(&token),
        )
        .await;
    let all_on = json!({"email": true, "webhook": true});
    assert_eq!(
        me["data"]["me"]["preferences"]["promotions"], all_on,
        "{me}"
    );
    assert_eq!(
        me["data"]["me"]["preferences"]["recommendations"], all_on,
        "{me}"
    );
}

#[tokio::test]
async fn concurrent_preference_edits_all_land_on_sqlite() {
    concurrent_preference_edits_all_land(Store::Sqlite).await;
}

#[tokio::test]
async fn concurrent_preference_edits_all_land_on_postgres() {
    concurrent_preference_edits_all_land(Store::Postgres).await;
}
