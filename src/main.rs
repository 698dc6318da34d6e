//! The `vitals_exporter` binary: flags, logging, signals; the rest is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use vitals_exporter::supervisor::{self, Options};
use vitals_exporter::{config, logging};

/// Prometheus exporter for the vital signs of microservices.
#[derive(Debug, Parser)]
#[command(name = "vitals_exporter", version)]
struct Flags {
    #[command(subcommand)]
    command: Option<Command>,
    /// exporter-toolkit web configuration: TLS, basic auth, HTTP headers.
    #[arg(long = "web.config.file")]
    web_config_file: Option<PathBuf>,
    /// Configuration file.
    #[arg(long = "config.file", default_value = "exporter.yaml")]
    config_file: PathBuf,
    /// Validate the configuration file and exit.
    #[arg(long = "config.check")]
    config_check: bool,
    /// Address to listen on, e.g. `:10115` or `127.0.0.1:10115`.
    #[arg(long = "web.listen-address", default_value = ":10115")]
    listen_address: String,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    telemetry_path: String,
    /// Enable `POST /-/reload` (SIGHUP always reloads).
    #[arg(long = "web.enable-lifecycle")]
    enable_lifecycle: bool,
    /// `/probe` requests probing at once; more are answered 503 (a probe
    /// with body regexes buffers up to its module's max_body_bytes).
    #[arg(long = "probe.max-concurrent", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    probe_max_concurrent: u32,
    /// Directory where log positions are saved across restarts.
    #[arg(long = "storage.path", default_value = "data")]
    storage_path: PathBuf,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    log_level: String,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    log_format: logging::Format,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Read a password on stdin and print its bcrypt hash for basic_auth_users.
    HashPassword {
        /// bcrypt cost (10 is the exporter-toolkit's usual value).
        #[arg(long, default_value_t = 10)]
        cost: u32,
    },
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    if let Some(Command::HashPassword { cost }) = flags.command {
        return hash_password(cost);
    }
    if let Err(e) = vitals_exporter::web::check_telemetry_path(&flags.telemetry_path) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let level = flags.log_level.parse().unwrap_or(tracing::Level::INFO);
    logging::init(level, flags.log_format);

    if flags.config_check {
        return match config::load(&flags.config_file) {
            Ok(c) => {
                println!(
                    "{}: OK ({} services, {} logs)",
                    flags.config_file.display(),
                    c.services.len(),
                    c.logs.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }

    match vitals_exporter::fdlimit::raise() {
        Ok(Some((old, new))) => tracing::debug!(old, new, "raised the open-file limit"),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = Options {
        config_file: flags.config_file,
        listen_address: flags.listen_address,
        telemetry_path: flags.telemetry_path,
        storage_path: Some(flags.storage_path),
        web_config_file: flags.web_config_file,
        enable_lifecycle: flags.enable_lifecycle,
        probe_max_concurrent: flags.probe_max_concurrent as usize,
    };
    let _context = runtime.enter();
    match runtime.block_on(supervisor::run(opts, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn hash_password(cost: u32) -> ExitCode {
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        eprintln!("cannot read the password from stdin");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("empty password");
        return ExitCode::FAILURE;
    }
    match bcrypt::hash(password, cost) {
        Ok(h) => {
            println!("{h}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot hash: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGTERM or SIGINT. The handlers are installed at once (in
/// the runtime's context), not when the future is first polled: a SIGTERM
/// that arrives as soon as `/-/ready` answers must still stop gracefully
/// (saving the log positions), not kill the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("received SIGTERM"),
            _ = int.recv() => tracing::info!("received SIGINT"),
        }
    }
}
