//! The engine through the real API on a fixed small dataset, the catalog, and activity.

use serde_json::json;

use crate::helpers::{error_code, new_user, no_catalog, pairs, spawn_app, spawn_with};

#[tokio::test]
async fn a_camera_buyer_gets_the_expected_items_in_order_with_reasons() {
    let app = spawn_with(no_catalog()).await;
    app.seed_fixture().await;
    app.rebuild_model().await;
    let me = new_user();
    app.record(&me, "camera", "PURCHASED").await;
    assert_eq!(
        app.recommendations(&me, 3).await,
        pairs(&[
            ("lens", "BOUGHT_TOGETHER"),
            ("tripod", "BOUGHT_TOGETHER"),
            ("bag", "VIEWED_TOGETHER"),
        ])
    );
    // Scores come down the list, and the product is resolved in full.
    let body = app
        .graphql(
            crate::helpers::RECOMMENDATIONS,
            json!({"reps": [{"__typename": "User", "id": me}], "first": 3}),
            Some(&app.issuer.user_token(&me)),
        )
        .await;
    let list = body["data"]["_entities"][0]["recommendations"]
        .as_array()
        .expect("list");
    let scores: Vec<f64> = list
        .iter()
        .map(|r| r["score"].as_f64().expect("score"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(
        list[0]["product"],
        json!({"id": "lens", "name": "50mm Lens", "category": "photo", "price": 199.0, "inStock": true})
    );
}

#[tokio::test]
async fn purchased_and_out_of_stock_products_never_appear() {
    let app = spawn_with(no_catalog()).await;
    let fixture = app.seed_fixture().await;
    app.rebuild_model().await;
    // A lens buyer who also bought the camera: the flash is the camera's neighbour too.
    for user in fixture.camera_buyers.iter().chain([new_user()].iter()) {
        let list = app.recommendations(user, 20).await;
        let ids: Vec<&str> = list.iter().map(|(id, _)| id.as_str()).collect();
        assert!(!ids.contains(&"flash"), "out of stock: {ids:?}");
        assert!(!ids.is_empty());
    }
    let buyer = &fixture.camera_buyers[0];
    let ids: Vec<String> = app
        .recommendations(buyer, 20)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for bought in ["camera", "lens", "tripod", "flash"] {
        assert!(!ids.iter().any(|id| id == bought), "{bought} in {ids:?}");
    }
    // Stock changes reach recommendations without a rebuild.
    let me = new_user();
    app.record(&me, "camera", "VIEWED").await;
    let body = app
        .graphql(
            "mutation { upsertProducts(products: [{id: \"lens\", name: \"50mm Lens\", category: \"photo\", price: 199, inStock: false}]) { upserted } }",
            json!({}),
            Some(&app.service_token()),
        )
        .await;
    assert_eq!(body["data"]["upsertProducts"]["upserted"], 1, "{body}");
    let ids: Vec<String> = app
        .recommendations(&me, 20)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(!ids.iter().any(|id| id == "lens"), "{ids:?}");
}

#[tokio::test]
async fn a_cold_start_user_gets_popular_items_from_their_preferred_categories() {
    let app = spawn_with(no_catalog()).await;
    app.seed_fixture().await;
    app.rebuild_model().await;
    let me = new_user();
    let token = app.issuer.user_token(&me);
    // Nothing known: plain popularity.
    let list = app.recommendations(&me, 2).await;
    assert!(
        list.iter().all(|(_, reason)| reason == "POPULAR"),
        "{list:?}"
    );
    assert_eq!(list[0].0, "camera");
    let body = app
        .graphql(
            "mutation { setProductInterests(categories: [\"Books\", \"books\"]) }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(
        body["data"]["setProductInterests"],
        json!(["books"]),
        "{body}"
    );
    assert_eq!(
        app.recommendations(&me, 3).await,
        pairs(&[
            ("novel", "MATCHES_PREFERENCES"),
            ("cookbook", "MATCHES_PREFERENCES"),
            ("camera", "POPULAR"),
        ])
    );
    let body = app
        .graphql(
            "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { productInterests
                recommendations(first: 5, category: \"BOOKS\") { product { id } reason } } } }",
            json!({"reps": [{"__typename": "User", "id": me}]}),
            Some(&token),
        )
        .await;
    assert_eq!(
        body["data"]["_entities"][0]["productInterests"],
        json!(["books"])
    );
    assert_eq!(
        body["data"]["_entities"][0]["recommendations"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{body}"
    );
}

#[tokio::test]
async fn catalog_browsing_entities_and_upsert_validation() {
    let app = spawn_app().await;
    let token = app.issuer.user_token(&new_user());
    let body = app
        .graphql(
            "{ products(category: \"Books\", first: 2) { items { id category } nextCursor } }",
            json!({}),
            Some(&token),
        )
        .await;
    let page = &body["data"]["products"];
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{body}");
    let cursor = page["nextCursor"].as_str().expect("cursor").to_owned();
    let next = app
        .graphql(
            "query($after: String) { products(category: \"books\", first: 2, after: $after) { items { id } } }",
            json!({"after": cursor}),
            Some(&token),
        )
        .await;
    assert!(next["data"]["products"]["items"][0]["id"].as_str() > Some(cursor.as_str()));

    let body = app
        .graphql(
            "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Product { id name price inStock } } }",
            json!({"reps": [{"__typename": "Product", "id": "p-0001"}, {"__typename": "Product", "id": "nope"}]}),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["_entities"][0]["id"], "p-0001", "{body}");
    assert_eq!(body["data"]["_entities"][1], json!(null));

    // Shoppers cannot edit the catalog; services can, with valid input only.
    let upsert = "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { upserted } }";
    let product =
        json!({"id": "new-1", "name": "Thing", "category": "misc", "price": 3.5, "inStock": true});
    let body = app
        .graphql(upsert, json!({"p": [product]}), Some(&token))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    for (bad, field) in [
        (
            json!({"id": "new 1", "name": "Thing", "category": "misc", "price": 3.5, "inStock": true}),
            "products[0].id",
        ),
        (
            json!({"id": "new-1", "name": " ", "category": "misc", "price": 3.5, "inStock": true}),
            "products[0].name",
        ),
        (
            json!({"id": "new-1", "name": "Thing", "category": "", "price": 3.5, "inStock": true}),
            "products[0].category",
        ),
        (
            json!({"id": "new-1", "name": "Thing", "category": "misc", "price": -1, "inStock": true}),
            "products[0].price",
        ),
    ] {
        let body = app
            .graphql(upsert, json!({"p": [bad]}), Some(&app.service_token()))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let body = app
        .graphql(upsert, json!({"p": [product]}), Some(&app.service_token()))
        .await;
    assert_eq!(body["data"]["upsertProducts"]["upserted"], 1, "{body}");
    let body = app
        .graphql(
            "{ product(id: \"new-1\") { name price category } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(
        body["data"]["product"],
        json!({"name": "Thing", "price": 3.5, "category": "misc"})
    );
}

#[tokio::test]
async fn activity_is_idempotent_and_checked() {
    let app = spawn_app().await;
    let me = new_user();
    let token = app.issuer.user_token(&me);
    let record =
        "mutation($input: RecordActivityInput!) { recordActivity(input: $input) { recorded } }";
    let input =
        json!({"input": {"productId": "p-0002", "kind": "VIEWED", "idempotencyKey": "view-1"}});
    let body = app.graphql(record, input.clone(), Some(&token)).await;
    assert_eq!(body["data"]["recordActivity"]["recorded"], true, "{body}");
    let body = app.graphql(record, input, Some(&token)).await;
    assert_eq!(body["data"]["recordActivity"]["recorded"], false, "{body}");
    // The same key from another shopper is their own activity.
    let body = app
        .graphql(
            record,
            json!({"input": {"productId": "p-0002", "kind": "VIEWED", "idempotencyKey": "view-1"}}),
            Some(&app.issuer.user_token(&new_user())),
        )
        .await;
    assert_eq!(body["data"]["recordActivity"]["recorded"], true, "{body}");
    let body = app
        .graphql(
            record,
            json!({"input": {"productId": "no-such-product", "kind": "PURCHASED"}}),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .graphql(
            record,
            json!({"input": {"productId": "p-0002", "kind": "STOLEN"}}),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    // Services act for no shopper.
    let body = app
        .graphql(
            record,
            json!({"input": {"productId": "p-0002", "kind": "VIEWED"}}),
            Some(&app.service_token()),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .graphql(
            record,
            json!({"input": {"productId": "p-0002", "kind": "VIEWED"}}),
            None,
        )
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}
