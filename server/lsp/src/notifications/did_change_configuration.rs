//! `workspace/didChangeConfiguration`: the acdp settings again (`settings.acdp`, or the whole
//! `settings` object), replacing those of `initializationOptions`. A model or adapter that
//! changed is loaded on the next question; malformed settings are logged and the old ones kept.

use tower_lsp_server::ls_types::DidChangeConfigurationParams;

use super::Outcome;
use crate::session::{AcdpSettings, Session};

pub fn did_change_configuration(
    session: &mut Session,
    params: DidChangeConfigurationParams,
) -> Outcome {
    match AcdpSettings::from_change(&params.settings) {
        Ok(None) => Outcome::default(),
        Ok(Some(settings)) => {
            let line = settings.describe();
            if session.set_acdp_settings(settings) {
                Outcome {
                    chunks_changed: None,
                    log: vec![(false, format!("settings changed: {line}"))],
                }
            } else {
                Outcome::default()
            }
        }
        Err(err) => Outcome::warn(format!(
            "workspace/didChangeConfiguration ignored: {err} (the settings stay as they were; \
             see docs/lsp.md, Settings)"
        )),
    }
}
