//! The deploy zip as Azure runs it: `tools/check-package` builds it with `infra/package.sh`,
//! unpacks it and runs this test with `IMAGESHARE_PACKAGED_APP` set to that folder. func-host
//! then starts the packaged handler from the unpacked zip itself (no staging from the
//! repository), and one share request goes to `Completed` against azure-sim.
//!
//! Ignored in a plain `cargo test`, which has no zip to run; `tools/test`'s `package` step
//! runs it with `--ignored`, and then a missing or broken package is a failure, never a skip.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use azure_sim::Sim;
use func_host::HostOptions;
use local_run::{demo, stack::Stack};

#[tokio::test]
#[ignore = "needs the unpacked deploy zip: run by tools/check-package"]
async fn the_unpacked_deploy_zip_runs_a_share_request_to_completed_under_func_host() {
    crate::logs::capture();
    let app_dir = PathBuf::from(
        std::env::var("IMAGESHARE_PACKAGED_APP")
            .expect("IMAGESHARE_PACKAGED_APP names the unpacked zip (tools/check-package sets it)"),
    );
    for file in ["host.json", "handler"] {
        assert!(
            app_dir.join(file).is_file(),
            "{file} is not at the root of {}",
            app_dir.display()
        );
    }
    // The packaged binary, not the debug build the other tests run.
    let packaged = std::fs::read(app_dir.join("handler")).unwrap();
    let debug = std::fs::read(env!("CARGO_BIN_EXE_handler")).unwrap();
    assert_ne!(packaged, debug, "the package holds the debug handler");

    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let sim = Sim::builder(crate::stack::fast_demo())
        .listen(any)
        .start()
        .await
        .unwrap();
    let listen = std::net::TcpListener::bind(any)
        .unwrap()
        .local_addr()
        .unwrap();
    let base_url = format!("http://{listen}");
    let mut options = HostOptions::new(&app_dir);
    options.listen = listen;
    options.azure_sim = Some(sim.url());
    options.inherit_env = false;
    let settings = Stack::settings(&sim, &base_url);
    options.settings = settings.clone();
    let host = func_host::start(options).await.unwrap();
    let stack = Stack::around(sim, host, base_url, app_dir, settings).unwrap();

    let report = demo::run(&stack, Duration::from_secs(300), |_| {})
        .await
        .unwrap();
    assert_eq!(report.status["state"], "Completed", "{:#}", report.status);
    assert!(report.status["vm"]["id"].as_str().is_some());
    stack.shutdown().await.unwrap();
}
