//! Staging the deploy layout, and the `func-host` command line.

mod common;

use std::{io::BufRead, os::unix::fs::PermissionsExt, path::PathBuf};

use func_host::{StageOptions, stage_app};
use serde_json::json;

#[test]
fn staging_copies_host_json_each_function_folder_and_the_executable() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    std::fs::create_dir_all(src.join("functions/Orders")).unwrap();
    std::fs::create_dir_all(src.join("functions/notes")).unwrap();
    std::fs::write(src.join("functions/notes/readme.txt"), "not a function").unwrap();
    std::fs::write(
        src.join("functions/Orders/function.json"),
        json!({"bindings": [{"type": "serviceBusTrigger", "direction": "in", "name": "msg", "queueName": "orders"}]}).to_string(),
    )
    .unwrap();
    std::fs::write(src.join("functions/Orders/extra.txt"), "kept").unwrap();
    std::fs::write(
        src.join("host.json"),
        json!({"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": "bin/handler"}}}).to_string(),
    )
    .unwrap();
    let settings = root.path().join("local.settings.json");
    std::fs::write(&settings, r#"{"Values":{"A":"1"}}"#).unwrap();
    let out = root.path().join("app");

    let staged = stage_app(&StageOptions {
        source_root: src.clone(),
        handler_binary: PathBuf::from(env!("CARGO_BIN_EXE_func-host-test-handler")),
        out_dir: out.clone(),
        local_settings: Some(settings),
    })
    .unwrap();
    assert_eq!(staged.functions, vec!["Orders".to_owned()]);
    assert_eq!(staged.executable, out.join("bin/handler"));
    assert!(out.join("host.json").is_file());
    assert!(out.join("Orders/function.json").is_file());
    assert_eq!(
        std::fs::read_to_string(out.join("Orders/extra.txt")).unwrap(),
        "kept"
    );
    assert!(
        !out.join("notes").exists(),
        "folders without function.json are not functions"
    );
    assert!(out.join("local.settings.json").is_file());
    let mode = std::fs::metadata(out.join("bin/handler"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "the handler is executable");

    // Staging again over a previous staging replaces it.
    std::fs::remove_dir_all(src.join("functions/Orders")).unwrap();
    let again = stage_app(&StageOptions {
        source_root: src,
        handler_binary: PathBuf::from(env!("CARGO_BIN_EXE_func-host-test-handler")),
        out_dir: out.clone(),
        local_settings: None,
    })
    .unwrap();
    assert!(again.functions.is_empty());
    assert!(!out.join("Orders").exists());
}

#[test]
fn func_host_start_prints_where_it_listens_and_the_functions() {
    let app = common::App::new(
        &common::host_json(json!({})),
        &[(
            "GetShareRequest",
            json!({"bindings": [
                {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["get"], "route": "share-requests/{id}"},
                {"type": "http", "direction": "out", "name": "res"}]}),
        )],
        &json!({}),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_func-host"))
        .args([
            "start",
            "--app-dir",
            app.dir.to_str().unwrap(),
            "--port",
            "0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("func-host listening on http://127.0.0.1:"),
        "{first}"
    );
    let port: u16 = first.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);
    let listing: Vec<String> = lines.by_ref().take(5).map(Result::unwrap).collect();
    assert!(
        listing.iter().any(|l| l.trim()
            == format!("GetShareRequest: [GET] http://127.0.0.1:{port}/api/share-requests/{{id}}")),
        "{listing:?}"
    );
    // Ctrl-C: a graceful stop also stops the handler (SIGKILL would orphan it).
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}
