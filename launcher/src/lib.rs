//! `herald dev`: the whole platform as child processes of one command.

/// `println!` that never panics: the launcher's output may be a pipe whose reader is gone
/// (`herald dev | tee log` after a Ctrl-C), and stopping the services matters more.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that never panics, for the same reason.
macro_rules! warn {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub mod cli;
pub mod dev;
pub mod layout;
pub mod plan;
pub mod preflight;
pub mod seed;
pub mod supervisor;
