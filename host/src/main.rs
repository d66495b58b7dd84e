//! The `mission-runner` binary: parses the command line and calls the library.

fn main() -> std::process::ExitCode {
    mission_runner::cli::main()
}
