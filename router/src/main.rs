use std::process::ExitCode;

use hive_router::{RouterGlobalAllocator, configure_global_allocator};

configure_global_allocator!();

fn main() -> ExitCode {
    herald_router::cli::run()
}
