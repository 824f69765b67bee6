use std::time::Duration;

use futures::StreamExt;
use herald_service::events::{EXCHANGE, declare_exchanges};
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, Consumer};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, Store, amqp_url, fresh_database, spawn_app, start, temp_dir, unique_email,
};

/// A private queue bound to `herald.events` for one routing key, as a consumer service would.
struct Listener {
    _connection: Connection,
    consumer: Consumer,
}

impl Listener {
    async fn bind(routing_key: &str) -> Self {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("RabbitMQ must be running for the event tests");
        let channel = connection.create_channel().await.expect("channel");
        declare_exchanges(&channel).await.expect("exchanges");
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
                "users-test".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume");
        Self {
            _connection: connection,
            consumer,
        }
    }

    /// The first message whose `data.user_id` is `user_id`, with its AMQP properties checked.
    async fn expect_for(&mut self, user_id: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.consumer.next())
                .await
                .unwrap_or_else(|_| panic!("no event for {user_id} within {within:?}"))
                .expect("consumer stream ended")
                .expect("delivery");
            let body: Value = serde_json::from_slice(&next.data).expect("JSON body");
            if body["data"]["user_id"] == user_id {
                assert_eq!(
                    next.properties.content_type().as_ref().map(|c| c.as_str()),
                    Some("application/json")
                );
                assert_eq!(
                    next.properties.message_id().as_ref().map(|m| m.as_str()),
                    body["id"].as_str(),
                    "message_id must be the envelope id"
                );
                assert_eq!(next.properties.delivery_mode(), &Some(2), "persistent");
                return body;
            }
        }
    }
}

#[tokio::test]
async fn register_publishes_user_registered() {
    let mut listener = Listener::bind("user.registered").await;
    let app = spawn_app(Store::Postgres).await;
    let email = unique_email("events");
    let id = app.register(&email, PASSWORD).await;
    let event = listener.expect_for(&id, Duration::from_secs(15)).await;
    assert_eq!(event["type"], "user.registered");
    assert_eq!(event["version"], 1);
    assert_eq!(event["data"]["email"], email.as_str());
    assert_eq!(event["data"]["name"], "Test Shopper");
    assert_eq!(event["data"]["preferences"]["ACCOUNT"]["IN_APP"], true);
    assert!(
        chrono::DateTime::parse_from_rfc3339(event["occurred_at"].as_str().expect("time")).is_ok()
    );
}

#[tokio::test]
async fn preference_changes_publish_user_preferences_updated() {
    let mut listener = Listener::bind("user.preferences_updated").await;
    let app = spawn_app(Store::Sqlite).await;
    let (id, token) = app.shopper("prefs").await;
    let body = app
        .graphql(
            "mutation { updateMe(input: {preferences: {promotions: {email: true}}}) { id } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let event = listener.expect_for(&id, Duration::from_secs(15)).await;
    assert_eq!(event["type"], "user.preferences_updated");
    assert_eq!(event["data"]["preferences"]["PROMOTIONS"]["EMAIL"], true);
}

#[tokio::test]
async fn events_wait_in_the_outbox_while_rabbitmq_is_unreachable() {
    let mut listener = Listener::bind("user.registered").await;
    // Nothing listens on port 1: the broker is "down" for this app.
    let data_dir = temp_dir();
    let database_url = fresh_database(Store::Postgres, &data_dir).await;
    let down = start(
        data_dir.clone(),
        database_url.clone(),
        "amqp://guest:guest@127.0.0.1:1/%2f",
    )
    .await;
    let id = down.register(&unique_email("outbox"), PASSWORD).await;

    // Registration succeeded; its event is committed but unpublished.
    let db = sea_orm::Database::connect(&database_url).await.expect("db");
    use sea_orm::{ConnectionTrait, Statement};
    let pending = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM outbox_events WHERE published_at IS NULL",
        ))
        .await
        .expect("query")
        .expect("row");
    assert_eq!(pending.try_get::<i64>("", "n").expect("n"), 1);

    // The broker comes back (a second instance on the same database, with the right URL).
    let _up = start(temp_dir(), database_url, &amqp_url()).await;
    let event = listener.expect_for(&id, Duration::from_secs(20)).await;
    assert_eq!(event["type"], "user.registered");
}
