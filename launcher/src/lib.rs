//! `herald dev`: the whole platform as child processes of one command.

pub mod cli;
pub mod dev;
pub mod layout;
pub mod plan;
pub mod preflight;
pub mod seed;
pub mod supervisor;
