//! `copydesk`: the command line for people and scripts (see the library for the commands).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match copydesk::run(copydesk::Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("copydesk: {error:#}");
            ExitCode::FAILURE
        }
    }
}
