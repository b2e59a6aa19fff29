//! Staging an app directory (the deploy zip's root, §7) from a source tree laid out as
//! `host.json` + `functions/<Name>/function.json` + a handler binary.

use std::path::{Component, Path, PathBuf};

use crate::{
    error::{ConfigError, StageError},
    function_json::FunctionDef,
    host_json::HostConfig,
};

/// What to stage.
#[derive(Clone, Debug)]
pub struct StageOptions {
    /// The source tree: `host.json` and `functions/<Name>/`.
    pub source_root: PathBuf,
    /// The built handler executable.
    pub handler_binary: PathBuf,
    /// The app directory to create. A previous staging there (it has host.json) is
    /// replaced; any other non-empty directory is refused.
    pub out_dir: PathBuf,
    /// An optional `local.settings.json` to copy (for local runs only; never deploy it).
    pub local_settings: Option<PathBuf>,
}

/// The staged app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedApp {
    /// The app directory.
    pub dir: PathBuf,
    /// Where the handler was put (`<dir>/<defaultExecutablePath>`).
    pub executable: PathBuf,
    /// The functions staged, by name.
    pub functions: Vec<String>,
}

/// Copies host.json, each `functions/<Name>/` to `<out>/<Name>/`, the handler to
/// `<out>/<defaultExecutablePath>` (made executable) and optionally local.settings.json.
pub fn stage_app(options: &StageOptions) -> Result<StagedApp, StageError> {
    let host_json = options.source_root.join("host.json");
    let config = HostConfig::read(&options.source_root)?;
    let exe = config.custom_handler.default_executable_path;
    let exe_path = Path::new(&exe);
    if exe_path.is_absolute()
        || exe_path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        || exe.contains('%')
    {
        return Err(StageError::ExecutableOutsideApp(exe));
    }

    prepare_out_dir(&options.out_dir)?;
    copy_file(&host_json, &options.out_dir.join("host.json"))?;

    let functions_dir = options.source_root.join("functions");
    let mut functions = Vec::new();
    let entries = std::fs::read_dir(&functions_dir).map_err(|source| ConfigError::Read {
        path: functions_dir.clone(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ConfigError::Read {
            path: functions_dir.clone(),
            source,
        })?;
        let dir = entry.path();
        if !dir.is_dir() || FunctionDef::read(&dir)?.is_none() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        copy_dir(&dir, &options.out_dir.join(&name))?;
        functions.push(name);
    }
    functions.sort();

    let executable = options.out_dir.join(exe_path);
    if let Some(parent) = executable.parent() {
        create_dir(parent)?;
    }
    copy_file(&options.handler_binary, &executable)?;
    make_executable(&executable)?;

    if let Some(settings) = &options.local_settings {
        copy_file(settings, &options.out_dir.join("local.settings.json"))?;
    }
    Ok(StagedApp {
        dir: options.out_dir.clone(),
        executable,
        functions,
    })
}

fn prepare_out_dir(out: &Path) -> Result<(), StageError> {
    if out.join("host.json").is_file() {
        std::fs::remove_dir_all(out).map_err(|source| copy_error(out, out, source))?;
    } else if out.is_dir()
        && std::fs::read_dir(out)
            .map_err(|source| copy_error(out, out, source))?
            .next()
            .is_some()
    {
        return Err(copy_error(
            out,
            out,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the output directory is not empty and is not a staged app",
            ),
        ));
    }
    create_dir(out)
}

fn copy_error(from: &Path, to: &Path, source: std::io::Error) -> StageError {
    StageError::Copy {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    }
}

fn create_dir(dir: &Path) -> Result<(), StageError> {
    std::fs::create_dir_all(dir).map_err(|source| copy_error(dir, dir, source))
}

fn copy_file(from: &Path, to: &Path) -> Result<(), StageError> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|source| copy_error(from, to, source))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), StageError> {
    create_dir(to)?;
    let entries = std::fs::read_dir(from).map_err(|source| copy_error(from, to, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| copy_error(from, to, source))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            copy_file(&path, &target)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), StageError> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path)
        .map_err(|source| copy_error(path, path, source))?
        .permissions();
    perms.set_mode(perms.mode() | 0o755);
    std::fs::set_permissions(path, perms).map_err(|source| copy_error(path, path, source))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> Result<(), StageError> {
    Ok(())
}
