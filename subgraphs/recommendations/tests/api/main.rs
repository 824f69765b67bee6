//! Tests of the recommendations service: the store conformance suite on every adapter, and
//! the real application (API and worker) on random ports against real RabbitMQ, Redis,
//! PostgreSQL and SQLite.

mod helpers;

mod authorization;
mod conformance;
mod graphql;
mod pipeline;
mod rest;
mod schema;
