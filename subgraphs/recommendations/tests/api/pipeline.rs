//! The worker against real RabbitMQ and Redis: events change recommendations, recomputes
//! and purchases publish `recommendation.generated`, poison goes to the dead-letter queue.

use std::time::Duration;

use futures::StreamExt;
use herald_service::events::{EXCHANGE, Envelope, Publisher, routing};
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use serde_json::{Value, json};

use crate::helpers::{amqp_url, eventually, new_user, no_catalog, pairs, spawn_with};

/// A private queue bound to `herald.events` for one routing key, like the notifications
/// pipeline's, to see what the worker publishes.
struct Tap {
    _connection: lapin::Connection,
    consumer: lapin::Consumer,
    kept: Vec<Value>,
}

impl Tap {
    async fn new(routing_key: &str) -> Self {
        let connection =
            lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
                .await
                .expect("RabbitMQ must be running");
        let channel = connection.create_channel().await.expect("channel");
        herald_service::events::declare_exchanges(&channel)
            .await
            .expect("exchanges");
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("queue");
        channel
            .queue_bind(
                queue.name().clone(),
                EXCHANGE.into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "tap".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        Self {
            _connection: connection,
            consumer,
            kept: Vec::new(),
        }
    }

    /// The next message (in arrival order) whose `data.user_id` is one of `users`; messages
    /// for other shoppers are kept for later calls (other tests publish too).
    async fn next_for_any(&mut self, users: &[String]) -> Value {
        let wanted = |body: &Value| users.iter().any(|u| body["data"]["user_id"] == u.as_str());
        if let Some(i) = self.kept.iter().position(&wanted) {
            return self.kept.remove(i);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let next = tokio::time::timeout_at(deadline, self.consumer.next())
                .await
                .unwrap_or_else(|_| panic!("no event for {users:?} within a minute"))
                .expect("stream")
                .expect("delivery");
            next.ack(BasicAckOptions::default()).await.expect("ack");
            let body: Value = serde_json::from_slice(&next.data).expect("json");
            if wanted(&body) {
                return body;
            }
            self.kept.push(body);
        }
    }

    async fn next_for(&mut self, user: &str) -> Value {
        self.next_for_any(&[user.to_owned()]).await
    }
}

async fn publish(kind: &str, data: Value) -> Envelope<Value> {
    let envelope = Envelope::new(kind, data);
    Publisher::new(amqp_url(), "test")
        .publish(&envelope)
        .await
        .expect("publish");
    envelope
}

#[tokio::test]
async fn order_placed_events_from_rabbitmq_change_recommendations_and_publish() {
    let mut settings = no_catalog();
    settings.push(("recommendations.model_refresh_secs", json!(1)));
    let app = spawn_with(settings).await;
    app.seed_fixture().await;
    app.rebuild_model().await;
    let mut tap = Tap::new(routing::RECOMMENDATION_GENERATED).await;
    app.spawn_worker().await;
    let me = new_user();
    app.record(&me, "novel", "VIEWED").await;
    let before = app.recommendations(&me, 3).await;
    assert!(
        !before.iter().any(|(_, r)| r == "BOUGHT_TOGETHER"),
        "{before:?}"
    );

    let order = json!({"order_id": "o-1", "user_id": me, "total": 899.0, "currency": "EUR",
                       "items": [{"product_id": "camera", "quantity": 1, "unit_price": 899.0}]});
    let envelope = publish(routing::ORDER_PLACED, order.clone()).await;
    let after = eventually("the purchase to change recommendations", || async {
        let list = app.recommendations(&me, 3).await;
        (list.first().map(|(id, _)| id.as_str()) == Some("lens")).then_some(list)
    })
    .await;
    assert_eq!(
        after,
        pairs(&[
            ("lens", "BOUGHT_TOGETHER"),
            ("tripod", "BOUGHT_TOGETHER"),
            ("bag", "VIEWED_TOGETHER"),
        ])
    );
    // The first recommendations after a purchase are published.
    let event = tap.next_for(&me).await;
    assert_eq!(event["type"], "recommendation.generated");
    assert_eq!(event["version"], 1);
    assert_eq!(event["data"]["product_ids"][0], "lens");
    assert_eq!(event["data"]["reasons"][0], "BOUGHT_TOGETHER");
    assert_eq!(event["data"]["product_names"][0], "50mm Lens");

    // A redelivered order (same envelope id) is recorded once.
    Publisher::new(amqp_url(), "test")
        .publish(&envelope)
        .await
        .expect("publish");
    let recommender = herald_recommendations::startup::open_recommender(&app.settings)
        .await
        .expect("recommender");
    eventually("the duplicate to be consumed", || async {
        let metrics = app
            .client
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        metrics
            .contains("herald_events_consumed_total{outcome=\"duplicate\",routing_key=\"order.placed\",service=\"recommendations\"}")
            .then_some(())
    })
    .await;
    let purchases = recommender
        .store()
        .user_activity(&me, 100)
        .await
        .expect("history")
        .into_iter()
        .filter(|a| a.product_id == "camera")
        .count();
    assert_eq!(purchases, 1);
    // The purchase also brings a model rebuild, without waiting for the nightly recompute.
    eventually("the model to be rebuilt after the purchase", || async {
        let versions = recommender.store().versions().await.ok()?;
        (versions.model >= 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_job_scheduler_fires_the_recompute() {
    let mut settings = no_catalog();
    settings.push(("recommendations.recompute_cron", json!("*/2 * * * * *")));
    let app = spawn_with(settings).await;
    app.seed_fixture().await;
    let mut tap = Tap::new(routing::RECOMMENDATION_GENERATED).await;
    // Only viewing: no purchase refresh, so only a recompute can publish for this shopper.
    let viewer = new_user();
    app.record(&viewer, "camera", "VIEWED").await;
    app.spawn_worker().await;
    let event = tap.next_for(&viewer).await;
    assert_eq!(event["data"]["product_ids"][0], "lens", "{event}");
}

#[tokio::test]
async fn a_recompute_publishes_recommendation_generated_when_changed() {
    let app = spawn_with(no_catalog()).await;
    let fixture = app.seed_fixture().await;
    let mut tap = Tap::new(routing::RECOMMENDATION_GENERATED).await;
    let worker = app.spawn_worker().await;
    let viewer = new_user();
    app.record(&viewer, "camera", "VIEWED").await;

    let admin = app.admin_token();
    let body = app
        .graphql(
            "mutation { recomputeRecommendations }",
            json!({}),
            Some(&admin),
        )
        .await;
    assert!(
        body["data"]["recomputeRecommendations"].is_string(),
        "{body}"
    );
    let event = tap.next_for(&viewer).await;
    // The top five: the camera's neighbours, then the fallback (the viewed camera itself
    // was not bought, so it may come back).
    assert_eq!(
        event["data"]["product_ids"],
        json!(["lens", "tripod", "bag", "camera", "novel"]),
        "{event}"
    );
    assert_eq!(
        event["data"]["reasons"],
        json!([
            "BOUGHT_TOGETHER",
            "BOUGHT_TOGETHER",
            "VIEWED_TOGETHER",
            "MATCHES_PREFERENCES",
            "POPULAR"
        ])
    );
    // Every shopper with recommendations got theirs.
    let buyer = tap.next_for_any(&fixture.camera_buyers).await;
    assert!(
        buyer["data"]["product_ids"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    );

    // Nothing changed: a second recompute publishes nothing for the viewer; a changed
    // shopper is published again.
    let changed = new_user();
    app.record(&changed, "novel", "PURCHASED").await;
    let body = app
        .graphql(
            "mutation { recomputeRecommendations }",
            json!({}),
            Some(&admin),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let mut seen_viewer = false;
    let event = loop {
        let event = tap.next_for_any(&[changed.clone(), viewer.clone()]).await;
        if event["data"]["user_id"] == viewer.as_str() {
            seen_viewer = true;
        }
        if event["data"]["user_id"] == changed.as_str() {
            break event;
        }
    };
    assert!(
        !seen_viewer,
        "unchanged recommendations were published again"
    );
    assert_eq!(event["data"]["product_ids"][0], "cookbook");

    let metrics = app
        .client
        .get(format!("{worker}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for name in [
        "herald_recommendation_recompute_seconds_count",
        "herald_recommendation_model_rebuild_seconds_count",
        "herald_recommendation_users_scored_total",
        "herald_recommendations_published_total",
    ] {
        assert!(metrics.contains(name), "{name} missing");
    }
    let ready = app
        .client
        .get(format!("{worker}/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn product_viewed_counts_and_poison_is_dead_lettered_with_its_reason() {
    let app = spawn_with(Vec::new()).await;
    app.spawn_worker().await;
    let queue = app.settings.recommendations.events_queue.clone();
    let me = new_user();
    // Poison first: the good event behind it must still flow.
    publish(routing::PRODUCT_VIEWED, json!({"user_id": me})).await;
    publish(
        routing::PRODUCT_VIEWED,
        json!({"user_id": me, "product_id": "p-0005"}),
    )
    .await;
    let recommender = herald_recommendations::startup::open_recommender(&app.settings)
        .await
        .expect("recommender");
    eventually("the view to be recorded", || async {
        let history = recommender.store().user_activity(&me, 10).await.ok()?;
        history
            .iter()
            .any(|a| a.product_id == "p-0005")
            .then_some(())
    })
    .await;

    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ");
    let channel = connection.create_channel().await.expect("channel");
    let mut dead = channel
        .basic_consume(
            format!("{queue}.dead").into(),
            "dead-tap".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume the dead-letter queue");
    let message = tokio::time::timeout(Duration::from_secs(60), dead.next())
        .await
        .expect("a dead letter within a minute")
        .expect("stream")
        .expect("delivery");
    let headers = message.properties.headers().clone().unwrap_or_default();
    let reason = headers
        .inner()
        .get("x-herald-dead-reason")
        .and_then(|v| match v {
            AMQPValue::LongString(s) => Some(s.to_string()),
            _ => None,
        })
        .expect("reason header");
    assert!(reason.contains("invalid data"), "{reason}");
}

/// The whole feed: a purchase on RabbitMQ → this worker's refresh → `recommendation.generated`
/// → the real notifications pipeline → a RECOMMENDATIONS notification in the shopper's inbox.
#[tokio::test]
async fn a_purchase_ends_as_a_recommendations_notification_in_the_inbox() {
    use herald_notifications::model::{ListFilter, PageRequest};
    use herald_service::config::ConfigSources;

    let app = spawn_with(no_catalog()).await;
    app.seed_fixture().await;
    app.rebuild_model().await;
    app.spawn_worker().await;

    let run = uuid::Uuid::new_v4().simple().to_string();
    let inbox_url = format!(
        "sqlite://{}/notifications.db?mode=rwc",
        app.data_dir.display()
    );
    let settings = herald_notifications::settings::Settings::load(&ConfigSources::from_pairs([
        ("notifications.database_url", json!(inbox_url)),
        (
            "notifications.events_queue",
            json!(format!("notifications.events.rec-test-{run}")),
        ),
        ("notifications.events_queue_expires_ms", json!(600_000)),
        ("notifications.queue_prefix", json!(format!("rectest{run}"))),
        ("redis_url", json!(crate::helpers::redis_url())),
        ("amqp_url", json!(amqp_url())),
        ("jwks_url", json!(app.issuer.jwks_path())),
    ]))
    .expect("notifications settings");
    let notifications = herald_notifications::pipeline::PipelineWorker::build(
        settings.clone(),
        Some(
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        ),
    )
    .await
    .expect("notifications worker");
    tokio::spawn(notifications.run_until(std::future::pending()));
    crate::helpers::wait_for_queue(&settings.notifications.events_queue).await;

    let me = new_user();
    publish(
        routing::ORDER_PLACED,
        json!({"order_id": "o-9", "user_id": me, "total": 899.0, "currency": "EUR",
               "items": [{"product_id": "camera", "quantity": 1, "unit_price": 899.0}]}),
    )
    .await;
    let inbox = herald_notifications::store::open(&inbox_url, None, "herald")
        .await
        .expect("inbox");
    let notification = eventually("a RECOMMENDATIONS notification in the inbox", || async {
        let page = inbox
            .list(
                &me,
                &ListFilter::default(),
                &PageRequest::new(Some(10), None).ok()?,
            )
            .await
            .ok()?;
        page.items
            .into_iter()
            .find(|n| n.category == herald_service::preferences::Category::Recommendations)
    })
    .await;
    assert_eq!(notification.title, "New picks for you");
    assert!(
        notification.body.contains("50mm Lens"),
        "{}",
        notification.body
    );
    assert_eq!(notification.data["productIds"][0], "lens");
    assert_eq!(notification.data["reasons"][0], "BOUGHT_TOGETHER");
}
