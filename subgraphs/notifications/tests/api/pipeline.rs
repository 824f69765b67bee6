//! The delivery pipeline against real RabbitMQ and Redis: events in, inbox rows out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use herald_notifications::pipeline::delivery::sign;
use herald_notifications::settings::Settings;
use herald_service::events::{EXCHANGE, Envelope, Publisher};
use lapin::options::{BasicGetOptions, BasicPublishOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Value, json};

use crate::helpers::{TestApp, amqp_url, new_user, spawn_pipeline};

const INBOX_TITLES: &str =
    "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User {
    notifications(first: 50) { edges { node { id title body category } } } } } }";

async fn titles(app: &TestApp, user: &str) -> Vec<String> {
    let body = app
        .graphql(
            INBOX_TITLES,
            json!({"reps": [{"__typename": "User", "id": user}]}),
            Some(&app.issuer.user_token(user)),
        )
        .await;
    body["data"]["_entities"][0]["notifications"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("inbox query failed: {body}"))
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Polls the inbox until `done` holds, or fails after `within`.
async fn wait_for_inbox(
    app: &TestApp,
    user: &str,
    within: Duration,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let current = titles(app, user).await;
        if done(&current) {
            return current;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "inbox of {user} never got there: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn publish(envelope: &Envelope) {
    Publisher::new(amqp_url(), "test")
        .publish(envelope)
        .await
        .expect("publish to RabbitMQ");
}

fn shipped(user: &str, order: &str) -> Envelope {
    Envelope::new(
        "order.shipped",
        json!({"order_id": order, "user_id": user, "carrier": "DHL", "tracking_number": "JJD0099"}),
    )
}

#[tokio::test]
async fn an_order_shipped_event_lands_in_the_inbox_exactly_once() {
    let (app, _) = spawn_pipeline(Vec::new()).await;
    let user = new_user();
    let event = shipped(&user, "A-1001");
    publish(&event).await;
    // The same event again (a redelivery, a publisher retry): same id, no second row.
    publish(&event).await;
    let inbox = wait_for_inbox(&app, &user, Duration::from_secs(20), |t| !t.is_empty()).await;
    assert_eq!(inbox, vec!["Order A-1001 has shipped".to_owned()]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        titles(&app, &user).await.len(),
        1,
        "the duplicate must not add a row"
    );
}

#[tokio::test]
async fn an_opted_out_category_is_not_delivered() {
    let (app, settings) = spawn_pipeline(Vec::new()).await;
    let user = new_user();
    let mut preferences = herald_service::preferences::Preferences::default();
    preferences.order_updates.in_app = false;
    publish(&Envelope::new(
        "user.preferences_updated",
        json!({"user_id": user, "preferences": preferences, "email": "x@example.com"}),
    ))
    .await;
    let store =
        herald_notifications::store::sql::SqlStore::connect(&settings.notifications.database_url)
            .await
            .expect("store");
    use herald_notifications::store::NotificationStore;
    for _ in 0..200 {
        if store.get_profile(&user).await.expect("profile").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        store.get_profile(&user).await.expect("profile").is_some(),
        "the replica never got the preferences"
    );

    publish(&shipped(&user, "A-2")).await;
    // A category the user still accepts, published after: once it is in, the first one was
    // processed too (and dropped).
    publish(&Envelope::new(
        "recommendation.generated",
        json!({"user_id": user, "product_ids": ["p1"], "reasons": {}}),
    ))
    .await;
    let inbox = wait_for_inbox(&app, &user, Duration::from_secs(20), |t| !t.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let inbox_after = titles(&app, &user).await;
    assert_eq!(inbox, vec!["New picks for you".to_owned()]);
    assert_eq!(
        inbox_after, inbox,
        "the opted-out order update must never arrive"
    );
}

#[tokio::test]
async fn a_malformed_event_is_dead_lettered_and_the_next_one_still_flows() {
    let (app, settings) = spawn_pipeline(Vec::new()).await;
    let queue = settings.notifications.events_queue.clone();
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    let marker = uuid::Uuid::new_v4().to_string();
    channel
        .basic_publish(
            EXCHANGE.into(),
            "order.shipped".into(),
            BasicPublishOptions::default(),
            format!("{{ not json {marker}").as_bytes(),
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    let user = new_user();
    publish(&shipped(&user, "A-3")).await;
    wait_for_inbox(&app, &user, Duration::from_secs(20), |t| !t.is_empty()).await;

    // The poison message waits in <queue>.dead with the reason.
    let dead_queue = format!("{queue}.dead");
    let mut found = None;
    for _ in 0..100 {
        match channel
            .basic_get(dead_queue.clone().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("get")
        {
            Some(message) if String::from_utf8_lossy(&message.delivery.data).contains(&marker) => {
                found = Some(message);
                break;
            }
            Some(_) => continue,
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let message = found.expect("the malformed event in the dead-letter queue");
    let headers = message
        .delivery
        .properties
        .headers()
        .clone()
        .expect("headers");
    let reason = match headers
        .inner()
        .get("x-herald-dead-reason")
        .expect("reason header")
    {
        lapin::types::AMQPValue::LongString(text) => {
            String::from_utf8_lossy(text.as_bytes()).into_owned()
        }
        other => panic!("unexpected header {other:?}"),
    };
    assert!(reason.contains("not a Herald event envelope"), "{reason}");
}

#[tokio::test]
async fn deliver_at_in_the_future_is_not_delivered_early() {
    let (app, _) = spawn_pipeline(Vec::new()).await;
    let user = new_user();
    let at = chrono::Utc::now() + chrono::Duration::seconds(4);
    let body = app
        .graphql(
            "mutation($input: SendNotificationInput!) { sendNotification(input: $input) { jobIds } }",
            json!({"input": {"userIds": [user], "category": "ACCOUNT", "title": "Later",
                             "deliverAt": at.to_rfc3339(), "idempotencyKey": "later-1"}}),
            Some(&app.service_token()),
        )
        .await;
    assert_eq!(
        body["data"]["sendNotification"]["jobIds"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{body}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        titles(&app, &user).await.is_empty(),
        "delivered before deliverAt"
    );
    wait_for_inbox(&app, &user, Duration::from_secs(20), |t| {
        t == ["Later".to_owned()]
    })
    .await;
    assert!(chrono::Utc::now() >= at);
}

#[tokio::test]
async fn a_repeat_schedule_fires_repeatedly_and_stops_when_cancelled() {
    let (app, _) = spawn_pipeline(Vec::new()).await;
    let user = new_user();
    let other_schedule = app
        .graphql(
            "mutation($input: SendNotificationInput!) { sendNotification(input: $input) { scheduleId } }",
            json!({"input": {"userIds": [new_user()], "category": "PROMOTIONS", "title": "Weekly",
                             "repeat": {"cron": "0 9 * * MON", "timezone": "Europe/Paris"},
                             "idempotencyKey": format!("weekly-{}", uuid::Uuid::new_v4())}}),
            Some(&app.service_token()),
        )
        .await;
    let other_id = other_schedule["data"]["sendNotification"]["scheduleId"]
        .as_str()
        .expect("id")
        .to_owned();
    let key = format!("every-second-{}", uuid::Uuid::new_v4());
    let body = app
        .graphql(
            "mutation($input: SendNotificationInput!) { sendNotification(input: $input) { scheduleId } }",
            json!({"input": {"userIds": [user], "category": "ACCOUNT", "title": "Tick",
                             "repeat": {"cron": "* * * * * *"}, "idempotencyKey": key}}),
            Some(&app.service_token()),
        )
        .await;
    let schedule = body["data"]["sendNotification"]["scheduleId"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();

    let listed = app
        .graphql(
            "{ scheduledNotifications { id cron timezone title } }",
            json!({}),
            Some(&app.service_token()),
        )
        .await;
    let ids: Vec<&str> = listed["data"]["scheduledNotifications"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(
        ids.contains(&schedule.as_str()) && ids.contains(&other_id.as_str()),
        "adding one keeps the other: {listed}"
    );

    wait_for_inbox(&app, &user, Duration::from_secs(30), |t| t.len() >= 2).await;
    let cancelled = app
        .graphql(
            "mutation($id: ID!) { cancelScheduledNotification(id: $id) }",
            json!({"id": schedule}),
            Some(&app.service_token()),
        )
        .await;
    assert_eq!(
        cancelled["data"]["cancelScheduledNotification"], true,
        "{cancelled}"
    );
    // A run already in flight may still land; after that, nothing more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = titles(&app, &user).await.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        titles(&app, &user).await.len(),
        settled,
        "the schedule kept firing after cancellation"
    );
    let still = app
        .graphql(
            "{ scheduledNotifications { id } }",
            json!({}),
            Some(&app.service_token()),
        )
        .await;
    assert!(
        still.to_string().contains(&other_id),
        "cancelling one left the other: {still}"
    );
}

/// A shop endpoint. Every test's worker sees every event on `herald.events`, so it counts
/// only the requests for its own user.
#[derive(Clone, Default)]
struct Endpoint {
    user: Arc<std::sync::Mutex<String>>,
    failing: Arc<AtomicBool>,
    attempts: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    secret: Arc<std::sync::Mutex<String>>,
    last_body: Arc<std::sync::Mutex<Option<Value>>>,
}

/// An endpoint on a random port that answers 500 until told otherwise; returns it and its URL.
async fn failing_endpoint() -> (Endpoint, String) {
    let endpoint = Endpoint::default();
    endpoint.failing.store(true, Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(endpoint.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (endpoint, url)
}

async fn receive(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or_default();
    if parsed["user_id"] != endpoint.user.lock().expect("lock").as_str() {
        return StatusCode::NO_CONTENT;
    }
    endpoint.attempts.fetch_add(1, Ordering::SeqCst);
    if endpoint.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let timestamp: i64 = headers["x-herald-timestamp"]
        .to_str()
        .expect("ts")
        .parse()
        .expect("int");
    let secret = endpoint.secret.lock().expect("lock").clone();
    assert_eq!(
        headers["x-herald-signature"].to_str().expect("sig"),
        sign(&secret, timestamp, &body),
        "signature"
    );
    *endpoint.last_body.lock().expect("lock") = serde_json::from_slice(&body).ok();
    endpoint.accepted.fetch_add(1, Ordering::SeqCst);
    StatusCode::NO_CONTENT
}

#[tokio::test]
async fn a_failing_webhook_retries_then_dead_letters_and_a_replay_delivers_once() {
    let (endpoint, url) = failing_endpoint().await;

    let (app, _): (TestApp, Settings) = spawn_pipeline(Vec::new()).await;
    let admin = app.issuer.token("ops", &[herald_service::Role::Admin]);
    let registered = app
        .graphql(
            "mutation($url: String!) { registerWebhookEndpoint(url: $url, categories: [ORDER_UPDATES]) { secret endpoint { id } } }",
            json!({"url": url}),
            Some(&admin),
        )
        .await;
    let secret = registered["data"]["registerWebhookEndpoint"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"));
    *endpoint.secret.lock().expect("lock") = secret.to_owned();

    let user = new_user();
    *endpoint.user.lock().expect("lock") = user.clone();
    publish(&shipped(&user, "A-4")).await;

    // Three attempts with backoff, then the dead-letter queue.
    let mut dead = Value::Null;
    for _ in 0..200 {
        let body = app
            .graphql(
                "{ deadLetters { id recipientId error attempts } }",
                json!({}),
                Some(&admin),
            )
            .await;
        if let Some(entry) = body["data"]["deadLetters"]
            .as_array()
            .and_then(|l| l.iter().find(|d| d["recipientId"] == user.as_str()))
        {
            dead = entry.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        dead.is_object(),
        "the job never reached the dead-letter queue"
    );
    assert_eq!(dead["attempts"], 3);
    assert!(
        dead["error"]
            .as_str()
            .expect("error")
            .contains("answered 500"),
        "{dead}"
    );
    assert_eq!(
        endpoint.attempts.load(Ordering::SeqCst),
        3,
        "one request per attempt"
    );
    // The in-app part succeeded on the first attempt and is not repeated by retries.
    assert_eq!(titles(&app, &user).await.len(), 1);

    endpoint.failing.store(false, Ordering::SeqCst);
    let replayed = app
        .graphql(
            "mutation($id: ID!) { replayDeadLetter(id: $id) }",
            json!({"id": dead["id"]}),
            Some(&admin),
        )
        .await;
    assert_eq!(replayed["data"]["replayDeadLetter"], true, "{replayed}");
    for _ in 0..200 {
        if endpoint.accepted.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        endpoint.accepted.load(Ordering::SeqCst),
        1,
        "delivered exactly once"
    );
    assert_eq!(titles(&app, &user).await.len(), 1, "no second inbox row");
    let body = endpoint
        .last_body
        .lock()
        .expect("lock")
        .clone()
        .expect("body");
    assert_eq!(body["user_id"], user.as_str());
    assert_eq!(body["notification"]["title"], "Order A-4 has shipped");
    let after = app
        .graphql("{ deadLetters { id } }", json!({}), Some(&admin))
        .await;
    assert!(
        !after.to_string().contains(dead["id"].as_str().expect("id")),
        "{after}"
    );
}

#[tokio::test]
async fn the_daily_frequency_cap_drops_extra_promotions_only() {
    let (app, _) = spawn_pipeline(vec![(
        "notifications.frequency_caps",
        json!({"PROMOTIONS": 2}),
    )])
    .await;
    let user = new_user();
    let send = |title: &'static str, category: &'static str| {
        let app = &app;
        let user = user.clone();
        async move {
            let body = app
                .graphql(
                    "mutation($input: SendNotificationInput!) { sendNotification(input: $input) { jobIds } }",
                    json!({"input": {"userIds": [user], "category": category, "title": title,
                                     "idempotencyKey": uuid::Uuid::new_v4().to_string()}}),
                    Some(&app.service_token()),
                )
                .await;
            assert!(body["errors"].is_null(), "{body}");
        }
    };
    send("Promo 1", "PROMOTIONS").await;
    send("Promo 2", "PROMOTIONS").await;
    send("Promo 3", "PROMOTIONS").await;
    send("Your order", "ORDER_UPDATES").await;
    let inbox = wait_for_inbox(&app, &user, Duration::from_secs(20), |t| {
        t.contains(&"Your order".to_owned())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let inbox_after = titles(&app, &user).await;
    let promos = inbox_after
        .iter()
        .filter(|t| t.starts_with("Promo"))
        .count();
    assert_eq!(promos, 2, "{inbox_after:?} (first look: {inbox:?})");
    assert!(
        inbox_after.contains(&"Your order".to_owned()),
        "uncapped categories pass"
    );
}

/// A minimal SMTP server that accepts every message and keeps (recipients, data).
async fn smtp_sink() -> (u16, Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut to = String::new();
                let mut in_data = false;
                let mut data = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            store
                                .lock()
                                .expect("lock")
                                .push((to.clone(), std::mem::take(&mut data)));
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            data.push_str(&line);
                            data.push('\n');
                        }
                        continue;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        to = line[8..].trim().trim_matches(['<', '>']).to_owned();
                        b"250 ok\r\n"
                    } else if upper.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn email_goes_to_the_replicas_address_for_opted_in_categories_only() {
    let (port, received) = smtp_sink().await;
    let (app, _) = spawn_pipeline(vec![(
        "notifications.email",
        json!({"enabled": true, "smtp_host": "127.0.0.1", "smtp_port": port, "security": "none",
               "from": "Shop <notifications@shop.example>"}),
    )])
    .await;
    let user = new_user();
    let address = format!("{user}@example.com");
    // Registration: the welcome is an ACCOUNT notice, which goes by email by default.
    publish(&Envelope::new(
        "user.registered",
        json!({"user_id": user, "email": address, "name": "Ada",
               "preferences": herald_service::preferences::Preferences::default()}),
    ))
    .await;
    wait_for_inbox(&app, &user, Duration::from_secs(20), |t| {
        t == ["Welcome, Ada!".to_owned()]
    })
    .await;
    // Promotions are in-app only by default: no email.
    publish(&Envelope::new(
        "recommendation.generated",
        json!({"user_id": user, "product_ids": ["p1"]}),
    ))
    .await;
    wait_for_inbox(&app, &user, Duration::from_secs(20), |t| t.len() == 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails: Vec<(String, String)> = received
        .lock()
        .expect("lock")
        .iter()
        .filter(|(to, _)| *to == address)
        .cloned()
        .collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].1.contains("Subject: Welcome, Ada!"),
        "{}",
        mails[0].1
    );
    assert!(
        mails[0]
            .1
            .contains("From: Shop <notifications@shop.example>"),
        "{}",
        mails[0].1
    );
}

#[tokio::test]
async fn the_slow_retry_replays_dead_letters_on_its_own() {
    let (endpoint, url) = failing_endpoint().await;
    let (app, _) = spawn_pipeline(vec![
        ("notifications.dlq_retry_interval_secs", json!(2)),
        ("notifications.attempts", json!(1)),
    ])
    .await;
    let admin = app.issuer.token("ops", &[herald_service::Role::Admin]);
    let registered = app
        .graphql(
            "mutation($url: String!) { registerWebhookEndpoint(url: $url, categories: [ORDER_UPDATES]) { secret } }",
            json!({"url": url}),
            Some(&admin),
        )
        .await;
    *endpoint.secret.lock().expect("lock") =
        registered["data"]["registerWebhookEndpoint"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
    let user = new_user();
    *endpoint.user.lock().expect("lock") = user.clone();
    let sent = app
        .graphql(
            "mutation($input: SendNotificationInput!) { sendNotification(input: $input) { jobIds } }",
            json!({"input": {"userIds": [user], "category": "ORDER_UPDATES", "title": "Order A-77 is ready",
                             "idempotencyKey": uuid::Uuid::new_v4().to_string()}}),
            Some(&app.service_token()),
        )
        .await;
    assert!(sent["errors"].is_null(), "{sent}");
    // It fails once, is parked, and the endpoint recovers; no admin acts.
    for _ in 0..100 {
        if endpoint.attempts.load(Ordering::SeqCst) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    endpoint.failing.store(false, Ordering::SeqCst);
    for _ in 0..300 {
        if endpoint.accepted.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        endpoint.accepted.load(Ordering::SeqCst),
        1,
        "the slow retry delivered it, once"
    );
    assert_eq!(
        titles(&app, &user).await,
        vec!["Order A-77 is ready".to_owned()]
    );
}

#[tokio::test]
async fn seed_send_notification_enqueues_through_the_pipeline() {
    let (app, _) = spawn_pipeline(Vec::new()).await;
    let user = new_user();
    let response = app
        .client
        .post(format!("{}/send-notification", app.address))
        .bearer_auth(app.service_token())
        .json(&json!({"user_id": user, "message": "Flash sale tonight", "type": "promotions"}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("json");
    assert!(body["job_id"].is_string(), "{body}");
    let inbox = wait_for_inbox(&app, &user, Duration::from_secs(20), |t| !t.is_empty()).await;
    assert_eq!(inbox, vec!["A promotion for you".to_owned()]);
    let as_shopper = app
        .client
        .post(format!("{}/send-notification", app.address))
        .bearer_auth(app.issuer.user_token(&user))
        .json(&json!({"user_id": user, "message": "spam", "type": "promotions"}))
        .send()
        .await
        .expect("post");
    assert_eq!(as_shopper.status(), 403);
}

#[tokio::test]
async fn deliveries_are_announced_and_counted() {
    // Listen for notification.delivered like an analytics consumer would.
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    herald_service::events::declare_exchanges(&channel)
        .await
        .expect("exchanges");
    let queue = channel
        .queue_declare(
            "".into(),
            lapin::options::QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("queue");
    channel
        .queue_bind(
            queue.name().clone(),
            EXCHANGE.into(),
            "notification.delivered".into(),
            lapin::options::QueueBindOptions::default(),
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("bind");
    let (app, settings) = spawn_pipeline(Vec::new()).await;
    let user = new_user();
    publish(&shipped(&user, "A-9")).await;
    wait_for_inbox(&app, &user, Duration::from_secs(20), |t| !t.is_empty()).await;
    let mut announced = None;
    for _ in 0..100 {
        match channel
            .basic_get(queue.name().clone(), BasicGetOptions { no_ack: true })
            .await
            .expect("get")
        {
            Some(message) => {
                let body: Value = serde_json::from_slice(&message.delivery.data).expect("json");
                if body["data"]["user_id"] == user.as_str() {
                    announced = Some(body);
                    break;
                }
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let announced = announced.expect("a notification.delivered event");
    assert_eq!(announced["data"]["channel"], "IN_APP");
    assert_eq!(announced["data"]["category"], "ORDER_UPDATES");
    let _ = settings;
}

/// With no replica of a recipient yet, the worker asks the real users service (with a
/// `service` token) and honours what it says.
#[tokio::test]
async fn a_missing_replica_is_filled_from_the_users_service() {
    // The users service, with its events going nowhere, so only the fallback can tell the
    // worker about this user.
    let users_dir = crate::helpers::temp_dir();
    let users_settings = herald_users::settings::Settings::load(
        &herald_service::config::ConfigSources::from_pairs([
            ("users.host", json!("127.0.0.1")),
            (
                "users.database_url",
                json!(format!(
                    "sqlite://{}/users.db?mode=rwc",
                    users_dir.display()
                )),
            ),
            ("users.data_dir", json!(users_dir)),
            ("amqp_url", json!("amqp://guest:guest@127.0.0.1:1/%2f")),
        ]),
    )
    .expect("users settings");
    let keys = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let users =
            herald_users::startup::Application::build(users_settings.clone(), Some(listener))
                .await
                .expect("users app");
        let port = users.port();
        tokio::spawn(users.run_until(std::future::pending()));
        let keys = herald_users::signing::SigningKeys::load(
            &users_settings.users,
            users_settings.common.env,
        )
        .expect("keys");
        (format!("http://127.0.0.1:{port}"), keys)
    };
    let (users_url, signing) = keys;
    let client = reqwest::Client::new();
    let registered: Value = client
        .post(format!("{users_url}/users"))
        .json(
            &json!({"name": "Fallback", "email": format!("{}@example.com", uuid::Uuid::new_v4()),
                      "password": "correct horse battery", "preferences": ["recommendations"]}),
        )
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let user = registered["id"].as_str().expect("id").to_owned();
    let service_token = signing
        .issue(
            "service:notifications",
            &[herald_service::Role::Service],
            600,
        )
        .expect("token");

    let (app, settings) = spawn_pipeline(vec![
        ("notifications.users_url", json!(users_url)),
        ("notifications.users_service_token", json!(service_token)),
    ])
    .await;
    // This user opted out of order updates (the seed list names only recommendations).
    publish(&shipped(&user, "A-55")).await;
    publish(&Envelope::new(
        "recommendation.generated",
        json!({"user_id": user, "product_ids": ["p1"]}),
    ))
    .await;
    let inbox = wait_for_inbox(&app, &user, Duration::from_secs(20), |t| !t.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(titles(&app, &user).await, inbox);
    assert_eq!(inbox, vec!["New picks for you".to_owned()]);
    let store =
        herald_notifications::store::sql::SqlStore::connect(&settings.notifications.database_url)
            .await
            .expect("store");
    use herald_notifications::store::NotificationStore;
    let replica = store
        .get_profile(&user)
        .await
        .expect("profile")
        .expect("the fallback stored a replica");
    assert!(!replica.preferences.order_updates.in_app);
    assert!(replica.email.is_some());
    let _ = std::fs::remove_dir_all(users_dir);
}
