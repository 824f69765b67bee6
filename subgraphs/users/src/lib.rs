//! Herald's users subgraph: shopper identity, notification preferences, and the platform's
//! only token issuer (JWKS at `/.well-known/jwks.json`).

pub mod accounts;
pub mod cli;
pub mod db;
pub mod graphql;
pub mod outbox;
pub mod passwords;
pub mod rest;
pub mod settings;
pub mod signing;
pub mod startup;
