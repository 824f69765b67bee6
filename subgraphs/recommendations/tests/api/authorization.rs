//! Only the shopper themself or an admin reads a shopper's recommendations and interests.

use serde_json::json;

use crate::helpers::{RECOMMENDATIONS, error_code, new_user, spawn_app};

#[tokio::test]
async fn another_users_recommendations_are_forbidden() {
    let app = spawn_app().await;
    let alice = new_user();
    let bob = new_user();
    app.record(&alice, "p-0001", "VIEWED").await;
    app.seed_views(12).await;
    let reps = json!({"reps": [{"__typename": "User", "id": alice}], "first": 5});
    let body = app
        .graphql(
            RECOMMENDATIONS,
            reps.clone(),
            Some(&app.issuer.user_token(&bob)),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert!(
        body["data"]["_entities"][0]["recommendations"].is_null(),
        "nothing of alice's may leak: {body}"
    );
    let body = app
        .graphql(
            "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { productInterests } } }",
            reps.clone(),
            Some(&app.issuer.user_token(&bob)),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    // A service token is no shopper either.
    let body = app
        .graphql(RECOMMENDATIONS, reps.clone(), Some(&app.service_token()))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let body = app.graphql(RECOMMENDATIONS, reps.clone(), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    // Alice and an admin may.
    for token in [app.issuer.user_token(&alice), app.admin_token()] {
        let body = app
            .graphql(RECOMMENDATIONS, reps.clone(), Some(&token))
            .await;
        assert!(body["errors"].is_null(), "{body}");
        assert_eq!(
            body["data"]["_entities"][0]["recommendations"]
                .as_array()
                .map(Vec::len),
            Some(5),
            "{body}"
        );
    }
}

#[tokio::test]
async fn bad_arguments_and_operator_mutations() {
    let app = spawn_app().await;
    let me = new_user();
    let token = app.issuer.user_token(&me);
    let body = app
        .graphql(
            RECOMMENDATIONS,
            json!({"reps": [{"__typename": "User", "id": me}], "first": 1000}),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    let body = app
        .graphql(
            "mutation { recomputeRecommendations }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let body = app
        .graphql(
            "mutation { setProductInterests(categories: [\"<script>\"]) }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    let body = app
        .graphql("{ products { items { id } } }", json!({}), None)
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
}
