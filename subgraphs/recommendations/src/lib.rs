//! Herald's recommendations subgraph: the product catalog (owning `Product`), shoppers'
//! activity, item-to-item collaborative filtering with a popularity fallback (adding
//! `recommendations` to `User`), and, in the worker role, event intake from RabbitMQ and the
//! scheduled recompute that feeds `recommendation.generated` to the notifications pipeline.

pub mod catalog;
pub mod cli;
pub mod engine;
pub mod graphql;
pub mod model;
pub mod recommender;
pub mod rest;
pub mod settings;
pub mod startup;
pub mod store;
pub mod worker;
