//! The full story, through the router only: register → login → purchases → the
//! recommendations worker computes picks and publishes `recommendation.generated` → the
//! notifications worker puts them in the inbox; then the shop's `order.shipped` → an order
//! notification, received live over a subscription through the router as well.

use futures::{SinkExt, StreamExt};
use herald_service::events::{Envelope, Publisher};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{DEADLINE, Platform, Subgraphs, amqp_url, workspace_root};

fn catalog_product_ids(n: usize) -> Vec<String> {
    let path = workspace_root().join("subgraphs/recommendations/catalog/products.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the sample catalog at {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|p| p["id"].as_str().map(str::to_owned))
        .take(n)
        .collect()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws subscription to the router, acknowledged and started.
async fn subscribe(platform: &Platform, token: &str, query: &str) -> Socket {
    let url = format!("{}/graphql", platform.router_url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().expect("ws request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket to the router");
    socket
        .send(Message::Text(
            json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}})
                .to_string()
                .into(),
        ))
        .await
        .expect("connection_init");
    let ack = next_json(&mut socket).await;
    assert_eq!(ack["type"], json!("connection_ack"), "{ack}");
    socket
        .send(Message::Text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": query}})
                .to_string()
                .into(),
        ))
        .await
        .expect("subscribe");
    socket
}

/// Opens a subscription to the unread count (which answers with the current value at once)
/// and returns that first value, or whatever the router said instead.
async fn try_subscribe(platform: &Platform, token: &str) -> Result<Value, String> {
    let url = format!("{}/graphql", platform.router_url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let messages = [
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}),
        json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { unreadNotificationCountChanged }"}}),
    ];
    for message in messages {
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .map_err(|e| e.to_string())?;
    }
    loop {
        let frame = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .map_err(|_| "no answer".to_owned())?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                match value["type"].as_str() {
                    Some("connection_ack") | Some("ping") | Some("pong") => continue,
                    Some("next")
                        if value["payload"]["data"].is_object()
                            && value["payload"].get("errors").is_none() =>
                    {
                        return Ok(value);
                    }
                    _ => return Err(value.to_string()),
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => return Err(format!("{other:?}")),
        }
    }
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .expect("a websocket message in time")
            .expect("the socket stays open")
            .expect("a websocket frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("json frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame: {other:?}"),
        }
    }
}

async fn purchase(platform: &Platform, token: &str, product: &str) {
    let body = platform
        .graphql(
            "mutation($id: ID!) { recordActivity(input: {productId: $id, kind: PURCHASED}) { recorded } }",
            json!({ "id": product }),
            Some(token),
        )
        .await;
    assert_eq!(
        body["data"]["recordActivity"]["recorded"],
        json!(true),
        "recordActivity: {body}"
    );
}

#[tokio::test]
async fn purchases_lead_to_recommendations_and_shipping_to_a_live_notification() {
    let platform = Platform::start(Subgraphs::All).await;
    let (user_id, token) = platform.register_and_login("Ada").await;

    let mut live = subscribe(
        &platform,
        &token,
        "subscription { notificationReceived { title category } }",
    )
    .await;

    // Other shoppers' orders come in from the shop (`order.placed`, the worker's path) ...
    let products = catalog_product_ids(3);
    let publisher = Publisher::new(amqp_url(), "herald-router-e2e");
    for shopper in 0..2 {
        let items: Vec<Value> = products
            .iter()
            .map(|id| json!({ "product_id": id, "quantity": 1, "unit_price": 10.0 }))
            .collect();
        publisher
            .publish(&Envelope::new(
                "order.placed",
                json!({
                    "order_id": format!("E2E-{}-{shopper}", platform.test_id),
                    "user_id": format!("e2e-shopper-{}-{shopper}", platform.test_id),
                    "items": items, "total": 30.0, "currency": "EUR",
                }),
            ))
            .await
            .expect("publish order.placed");
    }
    // ... and once the model has learnt from them, Ada has something to be recommended ...
    platform
        .poll(
            "{ me { recommendations(first: 3) { product { id } } } }",
            &token,
            |b| {
                b["data"]["me"]["recommendations"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            },
        )
        .await;
    // ... when she buys one of those products herself (the API's path).
    purchase(&platform, &token, &products[0]).await;

    // recommendations worker → recommendation.generated → notifications worker → inbox.
    let body = platform
        .poll(
            "{ me { notifications(first: 10, category: RECOMMENDATIONS) { edges { node { title body } } } \
               recommendations(first: 3) { product { id name } reason } } }",
            &token,
            |b| {
                b["data"]["me"]["notifications"]["edges"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty())
            },
        )
        .await;
    let recommendations = body["data"]["me"]["recommendations"]
        .as_array()
        .expect("recommendations");
    assert!(
        recommendations
            .iter()
            .any(|r| r["reason"] == json!("BOUGHT_TOGETHER")),
        "what others bought with it comes first: {body}"
    );
    let notification = &body["data"]["me"]["notifications"]["edges"][0]["node"];
    assert_eq!(notification["title"], json!("New picks for you"), "{body}");

    ship_and_see_it_live(&platform, &user_id, &token, &mut live).await;
    let _ = live.close(None).await;
}

/// The shop's `order.shipped` event becomes an ORDER_UPDATES notification, in the inbox and
/// live on `live`.
async fn ship_and_see_it_live(platform: &Platform, user_id: &str, token: &str, live: &mut Socket) {
    // The shop ships an order.
    let publisher = Publisher::new(amqp_url(), "herald-router-e2e");
    let order_id = format!("E2E-{}", platform.test_id);
    publisher
        .publish(&Envelope::new(
            "order.shipped",
            json!({ "order_id": order_id, "user_id": user_id, "carrier": "DHL", "tracking_number": "JJD000390007" }),
        ))
        .await
        .expect("publish order.shipped");

    let shipped_title = format!("Order {order_id} has shipped");
    platform
        .poll(
            "{ me { notifications(first: 10, category: ORDER_UPDATES) { edges { node { title } } } } }",
            token,
            |b| b.to_string().contains(&shipped_title),
        )
        .await;

    // Every notification also arrived live through the router's subscription.
    let started = std::time::Instant::now();
    loop {
        let frame = next_json(live).await;
        assert_eq!(frame["type"], json!("next"), "{frame}");
        if frame.to_string().contains(&shipped_title) {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the shipping notification never came over the subscription"
        );
    }
}

/// Subscriptions pass through the router to the notifications subgraph (graphql-transport-ws
/// both ways), with the caller's token from `connection_init`.
#[tokio::test]
async fn order_shipped_reaches_the_inbox_and_a_subscription_through_the_router() {
    let platform = Platform::start(Subgraphs::UsersAndNotifications).await;
    let (user_id, token) = platform.register_and_login("Ada").await;
    let mut live = subscribe(
        &platform,
        &token,
        "subscription { notificationReceived { title category } }",
    )
    .await;
    ship_and_see_it_live(&platform, &user_id, &token, &mut live).await;

    // A forged token in connection_init gets no subscription.
    let forger = herald_service::testing::TestIssuer::new(&platform.dir.join("forger"));
    let forged = forger.user_token(&user_id);
    let accepted = try_subscribe(&platform, &token).await;
    assert!(
        accepted.is_ok(),
        "the genuine token subscribes: {accepted:?}"
    );
    let refused = try_subscribe(&platform, &forged).await;
    assert!(
        refused.is_err(),
        "a forged token must not subscribe: {refused:?}"
    );
    let _ = live.close(None).await;
}
