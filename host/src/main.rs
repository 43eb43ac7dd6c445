//! The `palisade` binary: parses the command line and hands off to the library.

mod cli;

fn main() -> std::process::ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", palisade::display::escape(&format!("{e:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}
