//! The whole local stack: `azure-sim` with a scenario, `func-host` running the staged
//! function app, and the handler under it, every Azure call pointed at the simulator.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use azure_sim::{Scenario, Sim, scenario::demo};
use azure_transport::Transport;
use func_host::{HostOptions, RunningHost, StageOptions};

use crate::azurite::Azurite;

/// Where the handler keeps share requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalStore {
    /// Table Storage on Azurite, the code path of a deployment: requests outlive a crash or
    /// restart of the handler. Needs Node.js and npm (the emulator is installed on first use).
    Azurite,
    /// The handler's memory: nothing to install, but a handler restart loses every request.
    Memory,
}

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The repository root (host.json, functions/).
    pub source_root: PathBuf,
    /// The built `handler` executable.
    pub handler_binary: PathBuf,
    /// Where to lay out the app (the deploy zip's layout).
    pub app_dir: PathBuf,
    /// Where func-host listens (the app's public address).
    pub listen: SocketAddr,
    /// Where the simulator listens.
    pub sim_listen: SocketAddr,
    /// The simulated world.
    pub scenario: Scenario,
    /// Where requests are kept.
    pub store: LocalStore,
    /// App settings added to (or replacing) the defaults of [`Stack::settings`].
    pub extra_settings: Vec<(String, String)>,
}

/// A running stack. Dropping it stops the simulator; call [`Stack::shutdown`] to stop the
/// host and the handler cleanly.
#[derive(Debug)]
pub struct Stack {
    /// The simulator.
    pub sim: Sim,
    /// The local Functions host.
    pub host: RunningHost,
    /// The app's base URL (`http://127.0.0.1:7071`).
    pub base_url: String,
    /// A transport routed to the simulator.
    pub transport: Transport,
    /// The table emulator holding the requests, with [`LocalStore::Azurite`]. Dropped (and
    /// stopped) after the host.
    pub azurite: Option<Azurite>,
    /// The staged app and the settings the host runs it with, for more instances.
    app_dir: PathBuf,
    settings: Vec<(String, String)>,
}

/// The Fabrikam operators' SSH public key, on every demo VM.
pub const DEMO_SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMOVl3tuCvFLjCzvcWs4d1POvKZ4Mjxrg/KynhsrWpD2 ops@fabrikam";

/// The demo's share request: Fabrikam gets a VM from Contoso's hardened Ubuntu image.
pub fn demo_request() -> serde_json::Value {
    serde_json::json!({
        "consumer": {
            "tenantId": demo::FABRIKAM_TENANT,
            "subscriptionId": demo::FABRIKAM_SUBSCRIPTION,
            "resourceGroup": demo::FABRIKAM_RESOURCE_GROUP,
            "adminEmail": demo::FABRIKAM_ADMIN_UPN
        },
        "image": {"name": "ubuntu-hardened"},
        "vm": {
            "name": "vm-fabrikam-01",
            "size": "Standard_D2s_v5",
            "location": "eastus",
            "adminUsername": "azureuser",
            "sshPublicKey": DEMO_SSH_KEY
        }
    })
}

impl Stack {
    /// The app settings of the local run: the demo owner tenant, its managed identity and
    /// Service Bus namespace in the simulator, the in-memory store (replaced by the table
    /// store on Azurite in [`Stack::start`] unless asked for), mail notifications.
    pub fn settings(sim: &Sim, public_base_url: &str) -> Vec<(String, String)> {
        let catalog = format!(r#"{{"ubuntu-hardened":"{}"}}"#, demo::IMAGE_VERSION_ID);
        let service_bus = format!(
            "Endpoint=sb://{}.servicebus.windows.net/;SharedAccessKeyName={};SharedAccessKey={}",
            demo::SERVICE_BUS_NAMESPACE,
            demo::SAS_POLICY,
            demo::SAS_KEY
        );
        [
            ("FUNCTIONS_WORKER_RUNTIME", "custom".to_owned()),
            ("IMAGESHARE_SIMULATED_CLOUD", sim.url()),
            ("IDENTITY_ENDPOINT", sim.identity_endpoint()),
            ("IDENTITY_HEADER", demo::IDENTITY_HEADER.to_owned()),
            ("IMAGESHARE_IMAGE_CATALOG", catalog),
            ("IMAGESHARE_PUBLIC_BASE_URL", public_base_url.to_owned()),
            (
                "IMAGESHARE_OWNER_TENANT_ID",
                demo::CONTOSO_TENANT.to_owned(),
            ),
            (
                "IMAGESHARE_IDENTITY_CLIENT_ID",
                demo::OPERATOR_CLIENT_ID.to_owned(),
            ),
            ("ServiceBusConnection", service_bus),
            ("IMAGESHARE_STORE", "memory".to_owned()),
            ("IMAGESHARE_NOTIFY", "mail".to_owned()),
            ("IMAGESHARE_MAIL_SENDER", demo::MAILBOX_UPN.to_owned()),
            // The reconciler's timer, as deployed: every five minutes.
            ("IMAGESHARE_RECONCILE_SCHEDULE", "0 */5 * * * *".to_owned()),
            ("RUST_LOG", "imageshare=info,handler=info,warn".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Starts the simulator (and Azurite), stages the app and starts the host (which starts
    /// the handler).
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        let azurite = match options.store {
            LocalStore::Memory => None,
            LocalStore::Azurite => {
                let tools = options.source_root.join("tools/azurite");
                // Beside the app directory, which staging lays out anew.
                let scratch = options
                    .app_dir
                    .parent()
                    .unwrap_or(&options.app_dir)
                    .join("imageshare-local-azurite");
                let started = tokio::task::spawn_blocking(move || Azurite::start(&tools, &scratch))
                    .await
                    .context("starting Azurite")?
                    .context("starting Azurite")?;
                Some(started)
            }
        };
        let sim = Sim::builder(options.scenario)
            .listen(options.sim_listen)
            .start()
            .await
            .context("starting azure-sim")?;
        func_host::stage_app(&StageOptions {
            source_root: options.source_root.clone(),
            handler_binary: options.handler_binary.clone(),
            out_dir: options.app_dir.clone(),
            local_settings: None,
        })
        .context("staging the function app")?;

        // The public URL must be known before the handler starts (it is the consent
        // redirect URI), so a port 0 is resolved first.
        let listen = if options.listen.port() == 0 {
            std::net::TcpListener::bind(options.listen)?.local_addr()?
        } else {
            options.listen
        };
        let base_url = format!("http://{listen}");
        let mut settings = Self::settings(&sim, &base_url);
        let store_settings = azurite.as_ref().map(|a| {
            vec![
                ("IMAGESHARE_STORE".to_owned(), "table".to_owned()),
                ("AzureWebJobsStorage".to_owned(), a.connection_string()),
            ]
        });
        for (k, v) in store_settings
            .into_iter()
            .flatten()
            .chain(options.extra_settings)
        {
            settings.retain(|(name, _)| *name != k);
            settings.push((k, v));
        }
        let mut host_options = HostOptions::new(options.app_dir.clone());
        host_options.listen = listen;
        host_options.azure_sim = Some(sim.url());
        host_options.inherit_env = false;
        host_options.settings = settings.clone();
        let host = func_host::start(host_options)
            .await
            .context("starting func-host")?;
        let transport = Transport::simulated(&sim.url())?;
        Ok(Self {
            sim,
            host,
            base_url,
            transport,
            azurite,
            app_dir: options.app_dir,
            settings,
        })
    }

    /// A stack around a host started elsewhere (the packaged app under test), with the
    /// settings and app folder it runs, requests in the handler's memory.
    pub fn around(
        sim: Sim,
        host: RunningHost,
        base_url: String,
        app_dir: PathBuf,
        settings: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        let transport = Transport::simulated(&sim.url())?;
        Ok(Self {
            sim,
            host,
            base_url,
            transport,
            azurite: None,
            app_dir,
            settings,
        })
    }

    /// Starts one more instance of the same app (its own func-host and handler process) on a
    /// free port, sharing the simulator and the store, as a scale-out instance does. It keeps
    /// the first instance's public URL: instances of one Function App share its host name.
    pub async fn add_instance(&self) -> anyhow::Result<RunningHost> {
        let mut host_options = HostOptions::new(self.app_dir.clone());
        host_options.listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        host_options.azure_sim = Some(self.sim.url());
        host_options.inherit_env = false;
        host_options.settings = self.settings.clone();
        func_host::start(host_options)
            .await
            .context("starting another func-host")
    }

    /// Stops the host and the handler.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.host.shutdown().await.context("stopping func-host")?;
        Ok(())
    }
}
