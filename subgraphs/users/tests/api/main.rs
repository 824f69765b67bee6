//! End-to-end tests of the users service: the real application on a random port, against a
//! fresh PostgreSQL database (or SQLite file) per test and the local RabbitMQ.
//! One test binary, many modules: one link step for the whole suite.

mod helpers;

mod accounts;
mod events;
mod operator;
mod rest;
mod schema;
mod tokens;
