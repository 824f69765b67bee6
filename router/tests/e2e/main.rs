//! End-to-end through the router: the real binaries, as child processes, against the real
//! PostgreSQL, Redis and RabbitMQ.

mod federated;
mod helpers;
mod recompose;
mod security;
mod story;
