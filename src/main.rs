use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = clawbake::cli::parse();
    match clawbake::cli::run(cli) {
        Ok(out) => {
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            let _ = std::io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{}", e.render(clawbake::ui::stderr_color()));
            ExitCode::from(u8::try_from(e.code()).unwrap_or(1))
        }
    }
}
