//! The hil file: which real devices are on the bench (see hil/README.md and hil/example.toml).

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HilConfig {
    #[serde(default, rename = "reader")]
    pub readers: Vec<ReaderCfg>,
    #[serde(default, rename = "controller")]
    pub controllers: Vec<ControllerCfg>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderCfg {
    pub id: String,
    /// `r30x`, `uru4000` or `palm-bridge`.
    pub kind: String,
    /// Serial port (r30x) or bridge socket (palm-bridge); unused for uru4000.
    #[serde(default)]
    pub port: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerCfg {
    pub id: String,
    /// `osdp`.
    pub kind: String,
    pub port: PathBuf,
    pub address: i32,
    pub key_file: PathBuf,
}

pub fn load(path: &std::path::Path) -> anyhow::Result<HilConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
