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
    quiet_on_closed_stdout();
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
            let chain: Vec<String> = report.chain().map(|c| c.to_string()).collect();
            eprintln!("aios: {}", chain.join(": ").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// `aios audit export | head` closes stdout early. Rust ignores SIGPIPE, so the next
/// `println!` panics with "failed printing to stdout"; end quietly instead, with the status
/// a shell reports for a process ended by SIGPIPE (128 + 13), as `cat` and `grep` do.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
