//! The `sipas` binary: everything is in the library.

// The push path allocates many small objects per form (JSON trees, answers, SQL values); mimalloc
// serves them markedly faster than glibc's malloc under concurrent load (see `benches/push.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sipas_server::cli::main()
}
