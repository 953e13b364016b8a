//! `oxistack`: one binary for the whole cloud.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use oxistack::{
    cloud,
    config::{self, Config},
    files, manage, status, up,
};

#[derive(Parser)]
#[command(
    name = "oxistack",
    version,
    about = "An OpenStack-compatible cloud in one binary"
)]
struct Cli {
    /// Configuration file (TOML); every option has a default.
    #[arg(long, short = 'c', global = true, env = "OXISTACK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole cloud in this process (SQLite, in-process bus, local stores); the
    /// first run creates the data directory and bootstraps the cloud.
    Up {
        /// Data directory (default: ~/.local/share/oxistack).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run chosen services against the shared database named in the config.
    Serve {
        /// Services to run in this process: `api` (every service) or service names
        /// (`identity`, `image`, ...).
        #[arg(long, value_delimiter = ',', default_value = "api")]
        role: Vec<String>,
    },
    /// Show the services of the cloud running on the data directory, their health and
    /// their background work.
    Status {
        /// Data directory (default: the configured one, else ~/.local/share/oxistack).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Operator tasks.
    Manage {
        #[command(subcommand)]
        task: manage::Task,
    },
    /// Print the documented default configuration.
    Config,
}

fn init_logs(filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // the whole chain, on one line, without a backtrace: it is for a person
            eprintln!("oxistack: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Config = cli.command {
        print!("{}", config::example());
        return Ok(());
    }
    let cfg = Config::load(cli.config.as_deref())?;
    init_logs(&cfg.log);
    files::private_umask();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Up { data_dir } => up::run(cfg, data_dir).await,
            Command::Serve { role } => serve(cfg, &role).await,
            Command::Status { data_dir } => {
                let dir = data_dir.unwrap_or(cfg.data_dir);
                if !status::show(&dir).await? {
                    std::process::exit(1);
                }
                Ok(())
            }
            Command::Manage { task } => manage::run(cfg, task).await,
            Command::Config => Ok(()),
        }
    })
}

/// `serve --role ...`: chosen services against the configured (shared) database.
async fn serve(cfg: Config, roles: &[String]) -> anyhow::Result<()> {
    let roles = cloud::select(roles)?;
    let status = status::StatusFile::new(&cfg.data_dir, "serve");
    let report = status.clone();
    let tasks = service::Tasks::new(Some(std::sync::Arc::new(
        move |t: &service::TaskSnapshot| {
            tracing::info!(task = %t.name, state = ?t.state, "{}", t.message);
            report.task(t);
        },
    )));
    // A host that runs only agents needs no database: they talk over the bus.
    let db = if roles.services.is_empty() {
        None
    } else {
        Some(cloud::open_db(&cfg).await?)
    };
    let cloud = cloud::build(&cfg, db, &roles.services, service::Mode::Serve, tasks).await?;
    cloud
        .start_agents(&cfg, &roles.agents, service::Mode::Serve)
        .await?;
    cloud
        .serve(cloud::shutdown_signal(), |bound| {
            let mut list = Vec::new();
            for (r, addr) in bound {
                tracing::info!(service = r.service.name(), %addr, "serving");
                list.push(status::ServiceStatus {
                    name: r.service.name().into(),
                    kind: r.service.catalog().map_or("", |c| c.kind).into(),
                    endpoint: r.endpoint.clone(),
                    listen: addr.to_string(),
                });
            }
            status.set_services(list);
        })
        .await
}
