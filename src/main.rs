//! The `aios` binary: parse the command line, run it, print any error as one line.

use std::process::ExitCode;

use clap::Parser;

/// Many small, short-lived allocations on every bus message and token: under glibc's
/// allocator malloc/free were about 40% of the subscriber's time (benches/bus_ingest.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // First of all: every file, dir and socket this process creates is its user's alone.
    aios::file_modes::restrict_umask();
    if let Err(e) = color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .install()
    {
        eprintln!("aios: cannot install the error reporter: {e}");
    }
    let cli = aios::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aios: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(aios::cli::run(cli)) {
        Ok(code) => code,
        Err(report) => {
            let line = aios::cli::out::error_line(report.chain().map(|c| c.to_string()));
            eprintln!("aios: {line}");
            ExitCode::FAILURE
        }
    }
}
