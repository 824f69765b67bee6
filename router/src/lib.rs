//! Herald's router: composes the subgraphs' committed schemas (rover's `supergraph.yaml`) in
//! Rust and serves the supergraph with the embedded Hive Router engine, recomposing when a
//! subgraph's schema changes.

pub mod cli;
pub mod compose;
pub mod edge_auth;
pub mod recompose;
pub mod settings;
pub mod startup;
pub mod supergraph_config;
