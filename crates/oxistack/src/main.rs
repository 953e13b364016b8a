//! `oxistack`: one binary for the whole cloud.

mod cloud;
mod config;
mod manage;
mod service_auth;
mod test_image;
mod up;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::Config;

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
        /// Services to run in this process.
        #[arg(long, value_enum, value_delimiter = ',', default_value = "api")]
        role: Vec<cloud::Role>,
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Config = cli.command {
        print!("{}", config::EXAMPLE);
        return Ok(());
    }
    let cfg = Config::load(cli.config.as_deref())?;
    init_logs(&cfg.log);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Up { data_dir } => up::run(cfg, data_dir).await,
            Command::Serve { role } => {
                let db = cloud::open_db(&cfg).await?;
                let cloud = cloud::build(&cfg, db, &role).await?;
                cloud
                    .serve(cloud::shutdown_signal(), |bound| {
                        for (name, addr) in bound {
                            tracing::info!(service = name, %addr, "serving");
                        }
                    })
                    .await
            }
            Command::Manage { task } => manage::run(cfg, task).await,
            Command::Config => Ok(()),
        }
    })
}
