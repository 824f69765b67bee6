//! graphql-transport-ws over a real websocket.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{TestApp, new_user, spawn_app};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a websocket speaking graphql-transport-ws, before any `connection_init`.
async fn open(app: &TestApp) -> Socket {
    let mut request = app
        .ws_address
        .as_str()
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket")
        .0
}

async fn connect(app: &TestApp, token: &str) -> Socket {
    let mut socket = open(app).await;
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}).to_string(),
        ))
        .await
        .expect("init");
    let ack = next_json(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
    socket
        .send(Message::text(
            json!({"id": id, "type": "subscribe", "payload": {"query": query}}).to_string(),
        ))
        .await
        .expect("subscribe");
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("socket open")
            .expect("message");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("json"),
            Message::Close(frame) => panic!("socket closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// Subscribes to both live fields and waits for the count's first value, which proves the
/// subscriptions are registered before anything is created.
async fn live_socket(app: &TestApp, token: &str) -> Socket {
    let mut socket = connect(app, token).await;
    subscribe(
        &mut socket,
        "received",
        "subscription { notificationReceived { id title category } }",
    )
    .await;
    subscribe(
        &mut socket,
        "count",
        "subscription { unreadNotificationCountChanged }",
    )
    .await;
    let first = next_json(&mut socket).await;
    assert_eq!(first["id"], "count", "{first}");
    assert_eq!(
        first["payload"]["data"]["unreadNotificationCountChanged"],
        0
    );
    socket
}

#[tokio::test]
async fn a_subscriber_receives_a_notification_created_through_the_mutation() {
    let app = spawn_app().await;
    let user = new_user();
    let mut socket = live_socket(&app, &app.issuer.user_token(&user)).await;

    let id = app.notify(&user, "Back in stock", "PROMOTIONS").await;

    let mut got_notification = false;
    let mut got_count = false;
    while !(got_notification && got_count) {
        let message = next_json(&mut socket).await;
        assert_eq!(message["type"], "next", "{message}");
        match message["id"].as_str() {
            Some("received") => {
                let n = &message["payload"]["data"]["notificationReceived"];
                assert_eq!(n["id"], id.as_str());
                assert_eq!(n["title"], "Back in stock");
                got_notification = true;
            }
            Some("count") => {
                assert_eq!(
                    message["payload"]["data"]["unreadNotificationCountChanged"],
                    1
                );
                got_count = true;
            }
            other => panic!("unexpected subscription id {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_subscriber_never_sees_another_users_notifications() {
    let app = spawn_app().await;
    let alice = new_user();
    let bob = new_user();
    let mut bobs = live_socket(&app, &app.issuer.user_token(&bob)).await;

    app.notify(&alice, "For Alice only", "ACCOUNT").await;
    let for_bob = app.notify(&bob, "For Bob", "ACCOUNT").await;

    // Messages arrive in publication order: if Alice's leaked, it would come first.
    let message = next_json(&mut bobs).await;
    let received = if message["id"] == "received" {
        message
    } else {
        next_json(&mut bobs).await
    };
    assert_eq!(
        received["payload"]["data"]["notificationReceived"]["id"],
        for_bob.as_str(),
        "{received}"
    );
}

#[tokio::test]
async fn subscriptions_need_a_valid_token() {
    let app = spawn_app().await;
    let mut socket = open(&app).await;
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": {"Authorization": "Bearer forged.token.here"}}).to_string(),
        ))
        .await
        .expect("init");
    let reply = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("reply");
    match reply {
        // async-graphql closes a refused connection_init with 1002 and the error's message.
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(
                frame.reason.as_str(),
                "invalid or expired access token",
                "{frame:?}"
            )
        }
        Some(Ok(Message::Text(text))) => panic!("a forged token was accepted: {text}"),
        other => assert!(
            matches!(other, None | Some(Err(_)) | Some(Ok(Message::Close(None)))),
            "{other:?}"
        ),
    }

    // Without any token the connection opens, but subscribing is refused.
    let mut anonymous = open(&app).await;
    anonymous
        .send(Message::text(
            json!({"type": "connection_init"}).to_string(),
        ))
        .await
        .expect("init");
    assert_eq!(next_json(&mut anonymous).await["type"], "connection_ack");
    subscribe(
        &mut anonymous,
        "1",
        "subscription { notificationReceived { id } }",
    )
    .await;
    let refused = next_json(&mut anonymous).await;
    assert!(refused["payload"]["data"].is_null(), "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
}
