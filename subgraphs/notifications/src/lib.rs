//! Herald's notifications subgraph: the in-app inbox (owning `Notification`, adding the inbox
//! to `User`), live updates over graphql-transport-ws fed through Redis pub/sub, and the seed
//! REST routes.

pub mod admin;
pub mod cli;
pub mod graphql;
pub mod inbox;
pub mod live;
pub mod model;
pub mod pipeline;
pub mod rest;
pub mod settings;
pub mod startup;
pub mod store;
