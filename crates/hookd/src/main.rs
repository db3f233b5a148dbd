//! The `hookd` binary: parse the command line and hand over to `cli`.

/// mimalloc instead of the system allocator: after a burst of large request bodies, glibc's
/// per-thread arenas keep the freed memory, while mimalloc returns it to the system; and it
/// costs 12% fewer instructions per message delivered (BENCHMARKS.md, "Allocator"). The
/// `mimalloc` feature (default) selects it; `--no-default-features` builds with glibc's malloc.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hookd::cli::main()
}
