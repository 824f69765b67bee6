//! One suite, every adapter: SQLite and PostgreSQL always, MongoDB when
//! `HERALD_TEST_MONGODB_URL` names a server (none can be installed on CI machines).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use herald_notifications::model::{
    Cursor, ListFilter, NewNotification, PageRequest, RecipientProfile, WebhookEndpoint,
};
use herald_notifications::store::NotificationStore;
use herald_notifications::store::mongo::MongoStore;
use herald_notifications::store::sql::SqlStore;
use herald_service::preferences::Category;
use herald_service::preferences::Preferences;
use serde_json::json;

use crate::helpers::{fresh_postgres, new_user, sqlite_url, temp_dir};

fn new(recipient: &str, key: &str, category: Category) -> NewNotification {
    NewNotification {
        recipient_id: recipient.into(),
        category,
        title: format!("title {key}"),
        body: "body".into(),
        data: json!({"key": key}),
        idempotency_key: key.into(),
        read: false,
    }
}

async fn run_suite(store: Arc<dyn NotificationStore>) {
    idempotent_create(&store).await;
    concurrent_duplicate_creates_make_one_row(store.clone()).await;
    pagination_is_stable_under_inserts(&store).await;
    unread_counts_and_marks(&store).await;
    archive_leaves_listing_and_count(&store).await;
    filters(&store).await;
    everything_is_scoped_to_the_recipient(&store).await;
    concurrent_arrivals_are_all_counted(store.clone()).await;
    profiles_keep_the_newest(&store).await;
    webhook_endpoints(&store).await;
    store.ping().await.expect("ping");
}

async fn idempotent_create(store: &Arc<dyn NotificationStore>) {
    let user = new_user();
    let (first, created) = store
        .create(new(&user, "k1", Category::OrderUpdates))
        .await
        .expect("create");
    assert!(created);
    assert_eq!(first.data, json!({"key": "k1"}));
    assert!(!first.is_read());
    let mut again = new(&user, "k1", Category::OrderUpdates);
    again.title = "a different title".into();
    let (second, created) = store.create(again).await.expect("repeat");
    assert!(!created, "a repeated key must not create");
    assert_eq!(second.id, first.id);
    assert_eq!(second.title, first.title, "the first write wins");
    let page = store
        .list(
            &user,
            &ListFilter::default(),
            &PageRequest::new(Some(10), None).expect("page"),
        )
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    // The same key for another recipient is another notification.
    let (other, created) = store
        .create(new(&new_user(), "k1", Category::OrderUpdates))
        .await
        .expect("create");
    assert!(created);
    assert_ne!(other.id, first.id);
    let mut read = new(&user, "k-read", Category::Account);
    read.read = true;
    assert!(store.create(read).await.expect("create").0.is_read());
}

async fn concurrent_duplicate_creates_make_one_row(store: Arc<dyn NotificationStore>) {
    let user = new_user();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let user = user.clone();
            tokio::spawn(
                async move { store.create(new(&user, "same", Category::Promotions)).await },
            )
        })
        .collect();
    let mut ids = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let (n, was_created) = task.await.expect("join").expect("create");
        ids.insert(n.id);
        created += usize::from(was_created);
    }
    assert_eq!(ids.len(), 1, "every racer sees the same notification");
    assert_eq!(created, 1, "exactly one racer creates it");
    assert_eq!(store.count_unread(&user, None).await.expect("count"), 1);
}

async fn pagination_is_stable_under_inserts(store: &Arc<dyn NotificationStore>) {
    let user = new_user();
    let mut initial = Vec::new();
    for i in 0..10 {
        initial.push(
            store
                .create(new(&user, &format!("p{i}"), Category::Promotions))
                .await
                .expect("create")
                .0
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut after: Option<Cursor> = None;
    let mut round = 0;
    loop {
        let page = store
            .list(
                &user,
                &ListFilter::default(),
                &PageRequest {
                    first: 3,
                    after: after.clone(),
                },
            )
            .await
            .expect("list");
        seen.extend(page.items.iter().map(|n| n.id.clone()));
        // New arrivals between pages sort before the cursor and must not disturb the walk.
        store
            .create(new(&user, &format!("late{round}"), Category::Promotions))
            .await
            .expect("create");
        round += 1;
        if !page.has_next_page {
            break;
        }
        after = page.items.last().map(|n| n.cursor());
    }
    let expected: Vec<String> = initial.iter().rev().cloned().collect();
    assert_eq!(seen, expected, "newest first, no duplicates, no gaps");
    // The next fresh listing starts with the late arrivals, newest first.
    let fresh = store
        .list(
            &user,
            &ListFilter::default(),
            &PageRequest {
                first: 2,
                after: None,
            },
        )
        .await
        .expect("list");
    assert_eq!(fresh.items[0].title, format!("title late{}", round - 1));
    // A page of exactly the remaining size reports no next page.
    let all = store
        .list(
            &user,
            &ListFilter::default(),
            &PageRequest {
                first: 10 + round,
                after: None,
            },
        )
        .await
        .expect("list");
    assert_eq!(all.items.len(), 10 + round);
    assert!(!all.has_next_page);
}

async fn unread_counts_and_marks(store: &Arc<dyn NotificationStore>) {
    let user = new_user();
    let mut ids = Vec::new();
    for (i, category) in [
        Category::Promotions,
        Category::Promotions,
        Category::OrderUpdates,
    ]
    .into_iter()
    .enumerate()
    {
        ids.push(
            store
                .create(new(&user, &format!("u{i}"), category))
                .await
                .expect("create")
                .0
                .id,
        );
    }
    assert_eq!(store.count_unread(&user, None).await.expect("count"), 3);
    assert_eq!(
        store
            .count_unread(&user, Some(Category::Promotions))
            .await
            .expect("count"),
        2
    );

    let read = store
        .set_read(&user, &ids[0], true)
        .await
        .expect("read")
        .expect("exists");
    assert!(read.is_read());
    let first_read_at = read.read_at;
    let again = store
        .set_read(&user, &ids[0], true)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        again.read_at, first_read_at,
        "marking twice keeps the first read time"
    );
    assert_eq!(store.count_unread(&user, None).await.expect("count"), 2);

    let unread = store
        .set_read(&user, &ids[0], false)
        .await
        .expect("unread")
        .expect("exists");
    assert!(!unread.is_read());
    assert_eq!(store.count_unread(&user, None).await.expect("count"), 3);

    assert_eq!(
        store
            .mark_all_read(&user, Some(Category::Promotions))
            .await
            .expect("all"),
        2
    );
    assert_eq!(store.count_unread(&user, None).await.expect("count"), 1);
    assert_eq!(store.mark_all_read(&user, None).await.expect("all"), 1);
    assert_eq!(store.count_unread(&user, None).await.expect("count"), 0);
    assert_eq!(store.mark_all_read(&user, None).await.expect("all"), 0);
    assert!(
        store
            .set_read(&user, "no-such-id", true)
            .await
            .expect("read")
            .is_none()
    );
}

async fn archive_leaves_listing_and_count(store: &Arc<dyn NotificationStore>) {
    let user = new_user();
    let keep = store
        .create(new(&user, "keep", Category::Account))
        .await
        .expect("create")
        .0;
    let gone = store
        .create(new(&user, "gone", Category::Account))
        .await
        .expect("create")
        .0;
    let archived = store
        .archive(&user, &gone.id)
        .await
        .expect("archive")
        .expect("exists");
    assert!(archived.archived_at.is_some());
    let page = store
        .list(
            &user,
            &ListFilter::default(),
            &PageRequest {
                first: 10,
                after: None,
            },
        )
        .await
        .expect("list");
    assert_eq!(
        page.items.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        vec![keep.id]
    );
    assert_eq!(store.count_unread(&user, None).await.expect("count"), 1);
    // Still reachable by id (a link in an old email keeps working).
    assert!(store.get(&user, &gone.id).await.expect("get").is_some());
}

async fn filters(store: &Arc<dyn NotificationStore>) {
    let user = new_user();
    let promo = store
        .create(new(&user, "f1", Category::Promotions))
        .await
        .expect("create")
        .0;
    let order = store
        .create(new(&user, "f2", Category::OrderUpdates))
        .await
        .expect("create")
        .0;
    store.set_read(&user, &order.id, true).await.expect("read");
    let page = PageRequest {
        first: 10,
        after: None,
    };
    let unread = store
        .list(
            &user,
            &ListFilter {
                unread_only: true,
                category: None,
            },
            &page,
        )
        .await
        .expect("list");
    assert_eq!(
        unread
            .items
            .iter()
            .map(|n| n.id.clone())
            .collect::<Vec<_>>(),
        vec![promo.id.clone()]
    );
    let orders = store
        .list(
            &user,
            &ListFilter {
                unread_only: false,
                category: Some(Category::OrderUpdates),
            },
            &page,
        )
        .await
        .expect("list");
    assert_eq!(
        orders
            .items
            .iter()
            .map(|n| n.id.clone())
            .collect::<Vec<_>>(),
        vec![order.id.clone()]
    );
    let many = store
        .get_many(&[promo.id.clone(), order.id.clone(), "missing".into()])
        .await
        .expect("many");
    assert_eq!(many.len(), 2);
}

async fn everything_is_scoped_to_the_recipient(store: &Arc<dyn NotificationStore>) {
    let alice = new_user();
    let mallory = new_user();
    let note = store
        .create(new(&alice, "private", Category::Account))
        .await
        .expect("create")
        .0;
    assert!(store.get(&mallory, &note.id).await.expect("get").is_none());
    assert!(
        store
            .set_read(&mallory, &note.id, true)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        store
            .archive(&mallory, &note.id)
            .await
            .expect("archive")
            .is_none()
    );
    assert_eq!(store.mark_all_read(&mallory, None).await.expect("all"), 0);
    let untouched = store
        .get(&alice, &note.id)
        .await
        .expect("get")
        .expect("exists");
    assert!(!untouched.is_read() && untouched.archived_at.is_none());
    let page = store
        .list(
            &mallory,
            &ListFilter::default(),
            &PageRequest {
                first: 10,
                after: None,
            },
        )
        .await
        .expect("list");
    assert!(page.items.is_empty());
}

async fn concurrent_arrivals_are_all_counted(store: Arc<dyn NotificationStore>) {
    let user = new_user();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let user = user.clone();
            tokio::spawn(async move {
                store
                    .create(new(&user, &format!("c{i}"), Category::Recommendations))
                    .await
                    .expect("create");
                store.count_unread(&user, None).await.expect("count")
            })
        })
        .collect();
    for task in tasks {
        let seen = task.await.expect("join");
        assert!(
            (1..=20).contains(&seen),
            "a count mid-flight is between 1 and 20, was {seen}"
        );
    }
    assert_eq!(store.count_unread(&user, None).await.expect("count"), 20);
}

async fn profiles_keep_the_newest(store: &Arc<dyn NotificationStore>) {
    let user = new_user();
    assert!(store.get_profile(&user).await.expect("get").is_none());
    let now = herald_notifications::model::now_millis();
    let mut newer = Preferences::default();
    newer.promotions.in_app = false;
    let first = RecipientProfile {
        user_id: user.clone(),
        preferences: Preferences::default(),
        email: Some("a@example.com".into()),
        updated_at: now,
    };
    assert!(store.upsert_profile(&first).await.expect("insert"));
    let second = RecipientProfile {
        preferences: newer,
        email: Some("b@example.com".into()),
        updated_at: now + Duration::seconds(5),
        ..first.clone()
    };
    assert!(store.upsert_profile(&second).await.expect("update"));
    // An event that arrives late carries an older change: it must not win.
    let stale = RecipientProfile {
        updated_at: now + Duration::seconds(1),
        ..first.clone()
    };
    assert!(!store.upsert_profile(&stale).await.expect("stale"));
    let stored = store
        .get_profile(&user)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored, second);
}

async fn webhook_endpoints(store: &Arc<dyn NotificationStore>) {
    let id = uuid::Uuid::new_v4().to_string();
    let endpoint = WebhookEndpoint {
        id: id.clone(),
        url: "https://crm.example/hooks/herald".into(),
        categories: vec![Category::OrderUpdates, Category::Promotions],
        secret: "s3cret".into(),
        created_at: herald_notifications::model::now_millis() - Duration::milliseconds(1),
    };
    store.create_webhook(&endpoint).await.expect("create");
    let listed = store.list_webhooks().await.expect("list");
    assert_eq!(listed.iter().find(|e| e.id == id), Some(&endpoint));
    assert!(store.delete_webhook(&id).await.expect("delete"));
    assert!(!store.delete_webhook(&id).await.expect("delete again"));
    assert!(
        store
            .list_webhooks()
            .await
            .expect("list")
            .iter()
            .all(|e| e.id != id)
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
    let store = SqlStore::connect(&fresh_postgres().await)
        .await
        .expect("postgres");
    run_suite(Arc::new(store)).await;
}

#[tokio::test]
async fn conformance_on_mongodb_needs_herald_test_mongodb_url() {
    let Ok(url) = std::env::var("HERALD_TEST_MONGODB_URL") else {
        println!(
            "SKIPPED: the MongoDB conformance run needs a server; set HERALD_TEST_MONGODB_URL \
             (e.g. mongodb://127.0.0.1:27017) to run it. No MongoDB can be installed on CI machines."
        );
        eprintln!("SKIPPED: conformance_on_mongodb (HERALD_TEST_MONGODB_URL is not set)");
        return;
    };
    let database = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
    let store = MongoStore::connect(&url, &database).await.expect("mongodb");
    run_suite(Arc::new(store)).await;
}

/// An API and its worker (or several replicas) start together on a fresh database: each
/// must come up, with the schema migrated once.
async fn replicas_migrate_a_fresh_database_together(url: String) {
    let starts = (0..4).map(|_| SqlStore::connect(&url));
    for store in futures::future::join_all(starts).await {
        let store = store.expect("every replica starts");
        store.ping().await.expect("ping");
    }
}

#[tokio::test]
async fn replicas_migrate_a_fresh_database_together_on_postgres() {
    replicas_migrate_a_fresh_database_together(fresh_postgres().await).await;
}

#[tokio::test]
async fn replicas_migrate_a_fresh_database_together_on_sqlite() {
    replicas_migrate_a_fresh_database_together(sqlite_url(&temp_dir())).await;
}
