//! The `acdp` command line: parses arguments and hands off to the library. No pipeline logic
//! lives here.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
