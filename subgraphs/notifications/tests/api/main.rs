//! Tests of the notifications service: the store conformance suite on every adapter, and the
//! real application on a random port (GraphQL, websocket subscriptions, seed REST).

mod helpers;

mod authorization;
mod conformance;
mod crash;
mod inbox;
mod pipeline;
mod rest;
mod schema;
mod subscriptions;
