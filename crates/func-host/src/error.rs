//! Errors at the host's boundaries: configuration, staging and running.

use std::path::PathBuf;

/// The app directory or its configuration is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("could not read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid JSON.
    #[error("{path} is not valid JSON")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// host.json has no `customHandler.description.defaultExecutablePath`.
    #[error("host.json has no customHandler.description.defaultExecutablePath")]
    NoExecutable,
    /// A setting has a value the host cannot use.
    #[error("{setting}: invalid value '{value}'")]
    InvalidSetting {
        /// Which setting.
        setting: String,
        /// The value found.
        value: String,
    },
    /// A function.json binding is incomplete or unsupported.
    #[error("function '{function}': {message}")]
    Binding {
        /// The function.
        function: String,
        /// What is wrong.
        message: String,
    },
    /// A `%Setting%` binding expression names no app setting.
    #[error("binding expression '%{0}%' does not resolve to an app setting")]
    UnresolvedSetting(String),
    /// A Service Bus connection setting is missing or malformed.
    #[error("Service Bus connection '{name}': {message}")]
    Connection {
        /// The setting name from function.json `connection`.
        name: String,
        /// What is wrong (never the value: it holds a key).
        message: String,
    },
}

/// Staging an app directory failed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The source tree is not a function app.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A copy failed.
    #[error("could not copy {from} to {to}")]
    Copy {
        /// Source path.
        from: PathBuf,
        /// Destination path.
        to: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// defaultExecutablePath escapes the app directory or is absolute.
    #[error("defaultExecutablePath '{0}' must be a relative path inside the app")]
    ExecutableOutsideApp(String),
}

/// The host could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP listener could not bind.
    #[error("could not listen on {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The outbound transport could not be built.
    #[error(transparent)]
    Transport(#[from] azure_transport::TransportError),
    /// The handler process could not be kept running.
    #[error(transparent)]
    Worker(#[from] crate::worker::WorkerError),
    /// The HTTP client for the handler could not be built.
    #[error("could not build the HTTP client for the handler")]
    Client(#[source] reqwest::Error),
}
