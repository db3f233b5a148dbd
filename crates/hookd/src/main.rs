//! The `hookd` binary: parse the command line and hand over to `cli`.

/// mimalloc instead of the system allocator: after a burst of large request bodies, glibc's
/// per-thread arenas keep the freed memory, while mimalloc returns it to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hookd::cli::main()
}
