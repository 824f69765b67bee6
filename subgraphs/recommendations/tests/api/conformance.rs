//! One suite, every adapter: SQLite and PostgreSQL always, MongoDB when
//! `HERALD_TEST_MONGODB_URL` names a server (none can be installed on CI machines).

use std::sync::Arc;

use chrono::{Duration, Utc};
use herald_recommendations::model::{
    Activity, ActivityKind, Neighbour, Product, ProductModel, Published, RecommendationReason,
};
use herald_recommendations::store::RecommendationStore;
use herald_recommendations::store::mongo::MongoStore;
use herald_recommendations::store::sql::SqlStore;

use crate::helpers::{new_user, sqlite_url, temp_dir};

fn product(id: &str, category: &str) -> Product {
    Product {
        id: id.into(),
        name: format!("Product {id}"),
        category: category.into(),
        price_cents: 1234,
        in_stock: true,
    }
}

fn activity(id: &str, user: &str, product: &str, kind: ActivityKind, minutes_ago: i64) -> Activity {
    Activity {
        id: id.into(),
        user_id: user.into(),
        product_id: product.into(),
        kind,
        // Whole milliseconds: what every store keeps.
        occurred_at: chrono::DateTime::from_timestamp_millis(
            (Utc::now() - Duration::minutes(minutes_ago)).timestamp_millis(),
        )
        .expect("time"),
    }
}

async fn run_suite(store: Arc<dyn RecommendationStore>) {
    store.ping().await.expect("ping");
    catalog(&store).await;
    activity_is_idempotent(store.clone()).await;
    history_and_windows(&store).await;
    model_versions(&store).await;
    interests_and_publications(&store).await;
}

async fn catalog(store: &Arc<dyn RecommendationStore>) {
    let before = store.versions().await.expect("versions").catalog;
    let products: Vec<Product> = (0..7)
        .map(|i| product(&format!("c-{i}"), if i % 2 == 0 { "even" } else { "odd" }))
        .collect();
    assert_eq!(store.upsert_products(&products).await.expect("upsert"), 7);
    assert!(store.versions().await.expect("versions").catalog > before);
    let mut changed = product("c-1", "odd");
    changed.name = "Renamed".into();
    changed.in_stock = false;
    changed.price_cents = 99;
    store
        .upsert_products(&[changed.clone()])
        .await
        .expect("upsert");
    let got = store
        .get_products(&["c-1".into(), "missing".into()])
        .await
        .expect("get");
    assert_eq!(got.len(), 1);
    assert_eq!(got["c-1"], changed);
    let first = store
        .list_products(Some("even"), None, 2)
        .await
        .expect("list");
    assert_eq!(
        first.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["c-0", "c-2"]
    );
    let rest = store
        .list_products(Some("even"), Some("c-2"), 10)
        .await
        .expect("list");
    assert_eq!(
        rest.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["c-4", "c-6"]
    );
    assert_eq!(store.all_products().await.expect("all").len(), 7);
}

async fn activity_is_idempotent(store: Arc<dyn RecommendationStore>) {
    let user = new_user();
    let event = activity(
        &format!("evt/{user}"),
        &user,
        "c-1",
        ActivityKind::Viewed,
        0,
    );
    assert!(store.record_activity(&event).await.expect("record"));
    assert!(!store.record_activity(&event).await.expect("repeat"));
    // Concurrent redeliveries of one event still make one row.
    let concurrent = activity(
        &format!("evt2/{user}"),
        &user,
        "c-2",
        ActivityKind::Purchased,
        0,
    );
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let concurrent = concurrent.clone();
            tokio::spawn(async move { store.record_activity(&concurrent).await })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        if attempt.await.expect("join").expect("record") {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        store
            .user_activity(&user, 100)
            .await
            .expect("history")
            .len(),
        2
    );
}

async fn history_and_windows(store: &Arc<dyn RecommendationStore>) {
    let user = new_user();
    let other = new_user();
    let old_purchase = activity(
        &format!("{user}/old"),
        &user,
        "c-3",
        ActivityKind::Purchased,
        600,
    );
    store.record_activity(&old_purchase).await.expect("record");
    for i in 0..5 {
        store
            .record_activity(&activity(
                &format!("{user}/{i}"),
                &user,
                "c-0",
                ActivityKind::Viewed,
                5 - i,
            ))
            .await
            .expect("record");
    }
    store
        .record_activity(&activity(
            &format!("{other}/1"),
            &other,
            "c-4",
            ActivityKind::AddedToCart,
            1,
        ))
        .await
        .expect("record");
    // Newest first, limited — but every purchase is there, however old.
    let history = store.user_activity(&user, 3).await.expect("history");
    let ids: Vec<&str> = history.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            format!("{user}/4").as_str(),
            format!("{user}/3").as_str(),
            format!("{user}/2").as_str(),
            old_purchase.id.as_str()
        ]
    );
    assert_eq!(history[3], old_purchase);
    let since = Utc::now() - Duration::minutes(30);
    let recent = store.activity_since(since).await.expect("since");
    assert!(recent.iter().any(|a| a.user_id == other));
    assert!(!recent.iter().any(|a| a.id == old_purchase.id));
    let active = store.active_users(since).await.expect("active");
    assert!(active.contains(&user) && active.contains(&other));
    assert!(
        active.windows(2).all(|w| w[0] < w[1]),
        "sorted and distinct"
    );
}

async fn model_versions(store: &Arc<dyn RecommendationStore>) {
    let empty = store.load_model().await.expect("load");
    let first = vec![
        ProductModel {
            product_id: "a".into(),
            popularity: 2.5,
            neighbours: vec![Neighbour {
                product_id: "b".into(),
                similarity: 0.75,
                purchase_share: 1.0,
            }],
        },
        ProductModel {
            product_id: "b".into(),
            popularity: 1.0,
            neighbours: vec![],
        },
    ];
    let built_at =
        chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("time");
    let v1 = store
        .replace_model(&first, built_at)
        .await
        .expect("replace");
    assert!(v1 > empty.version);
    let loaded = store.load_model().await.expect("load");
    assert_eq!(loaded.version, v1);
    assert_eq!(loaded.products, first);
    assert_eq!(store.versions().await.expect("versions").model, v1);
    // A rebuild replaces everything: products gone from the activity leave the model.
    let second = vec![ProductModel {
        product_id: "c".into(),
        popularity: 9.0,
        neighbours: vec![],
    }];
    let v2 = store
        .replace_model(&second, built_at)
        .await
        .expect("replace");
    assert!(v2 > v1);
    assert_eq!(store.load_model().await.expect("load").products, second);
}

async fn interests_and_publications(store: &Arc<dyn RecommendationStore>) {
    let user = new_user();
    assert!(store.interests(&user).await.expect("interests").is_empty());
    store
        .set_interests(&user, &["books".into(), "garden".into()])
        .await
        .expect("set");
    store
        .set_interests(&user, &["books".into()])
        .await
        .expect("replace");
    assert_eq!(store.interests(&user).await.expect("interests"), ["books"]);
    assert!(
        store
            .interests(&new_user())
            .await
            .expect("other")
            .is_empty()
    );

    assert!(store.last_published(&user).await.expect("none").is_none());
    let mut published = Published {
        user_id: user.clone(),
        product_ids: vec!["a".into(), "b".into()],
        reasons: vec![
            RecommendationReason::BoughtTogether,
            RecommendationReason::Popular,
        ],
        published_at: chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis())
            .expect("time"),
    };
    store.save_published(&published).await.expect("save");
    assert_eq!(
        store.last_published(&user).await.expect("load"),
        Some(published.clone())
    );
    published.product_ids = vec!["c".into()];
    published.reasons = vec![RecommendationReason::ViewedTogether];
    store.save_published(&published).await.expect("replace");
    assert_eq!(
        store.last_published(&user).await.expect("load"),
        Some(published)
    );
}

#[tokio::test]
async fn conformance_on_sqlite() {
    let dir = temp_dir();
    let store = SqlStore::connect(&sqlite_url(&dir)).await.expect("sqlite");
    run_suite(Arc::new(store)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn conformance_on_postgres() {
    let url = herald_service::testing::fresh_postgres_database().await;
    let store = SqlStore::connect(&url).await.expect("postgres");
    run_suite(Arc::new(store)).await;
}

#[tokio::test]
async fn conformance_on_mongodb_needs_herald_test_mongodb_url() {
    let Ok(url) = std::env::var("HERALD_TEST_MONGODB_URL") else {
        eprintln!(
            "SKIPPED: conformance_on_mongodb (HERALD_TEST_MONGODB_URL is not set). Set it \
             (e.g. mongodb://127.0.0.1:27017) to run it. No MongoDB can be installed on CI machines."
        );
        return;
    };
    let database = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
    let store = MongoStore::connect(&url, &database).await.expect("mongodb");
    run_suite(Arc::new(store)).await;
}
