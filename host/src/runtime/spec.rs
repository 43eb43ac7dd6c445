//! How a plugin is declared (in the server configuration or a project's
//! policy): where its component comes from, its isolation, limits and
//! configuration; and each plugin's default share of the engine.

use super::{Isolation, Limits, PluginOptions};
use serde::Deserialize;
use std::path::PathBuf;

/// One plugin entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    /// Path of the `.wasm` component, inside the configuration's directory.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Name of a plugin built into the binary, instead of `path`.
    #[serde(default)]
    pub builtin: Option<String>,
    /// Pin: the component's sha256 (hex); loading fails if it differs.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Instance reuse across calls.
    #[serde(default)]
    pub isolation: Isolation,
    /// Sandbox limits.
    #[serde(default)]
    pub limits: Limits,
    /// The plugin's own configuration, handed to it as JSON.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

impl PluginSpec {
    /// Checks the entry: one source, limits in range, a well-formed pin. The
    /// message says what to write instead.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.path.is_some() == self.builtin.is_some() {
            return Err("write exactly one of `path: FILE.wasm` or `builtin: NAME`".into());
        }
        self.limits.validate()?;
        if let Some(pin) = &self.sha256 {
            let hex = pin.trim_start_matches("sha256:");
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "`sha256: {pin}` is not a sha256 digest; write the 64 hex digits that \
                     `palisade plugin inspect FILE` prints"
                ));
            }
        }
        Ok(())
    }

    /// The options the runtime loads this plugin with.
    pub fn options(&self) -> PluginOptions {
        PluginOptions {
            limits: self.limits,
            isolation: self.isolation,
            config: self
                .config
                .clone()
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
            sha256: self.sha256.clone(),
            first_party: self.builtin.is_some(),
        }
    }
}

/// The share of the engine (`limits.max_instances`) of a plugin that does
/// not set one: an equal part of what `engine_max` leaves after the plugins
/// that do. The shares together never exceed `engine_max`, so no plugin can
/// take the instances another needs; the message says what to change when
/// they cannot fit.
pub fn default_share<'a>(
    engine_max: u32,
    specs: impl IntoIterator<Item = &'a PluginSpec>,
) -> std::result::Result<u32, String> {
    let (mut set, mut unset) = (0u64, 0u64);
    for spec in specs {
        match spec.limits.max_instances {
            Some(n) => set += u64::from(n),
            None => unset += 1,
        }
    }
    let left = u64::from(engine_max).saturating_sub(set);
    if set > u64::from(engine_max) || left < unset {
        return Err(format!(
            "the plugins' `limits.max_instances` add up to {set}, which leaves {left} of              `engine.max_instances: {engine_max}` for the {unset} plugins that do not set it              (at least 1 each); raise `engine.max_instances` or lower those limits"
        ));
    }
    Ok(u32::try_from(left.checked_div(unset).unwrap_or(left)).unwrap_or(u32::MAX))
}
