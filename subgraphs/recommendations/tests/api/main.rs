//! Tests of the recommendations service.

#[allow(dead_code)]
mod helpers;

mod schema;
