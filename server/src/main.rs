//! The `sipas` binary: everything is in the library.

fn main() -> std::process::ExitCode {
    sipas_server::cli::main()
}
