//! Herald's router: composes the subgraphs' committed schemas (rover's `supergraph.yaml`) in
//! Rust and serves the supergraph with the embedded Hive Router engine, recomposing when a
//! subgraph's schema changes.

// The engine's service stack is a deeply nested type; laying out its futures in a release
// build (more inlining than dev) overflows the compiler's default query depth of 128.
#![recursion_limit = "256"]

pub mod cli;
pub mod compose;
pub mod edge_auth;
pub mod recompose;
pub mod settings;
pub mod startup;
pub mod supergraph_config;
