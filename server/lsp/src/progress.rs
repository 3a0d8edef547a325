//! Work-done progress tokens for the long jobs (indexing, export, training): one way to ask the
//! client for a token, so each job only names its token and says what it reports.

use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{NumberOrString, ProgressToken};

use super::log;

/// Asks the client to create the progress token `name`: the token if it accepted, `None` if
/// it refused (logged; the job then runs without progress reports).
pub async fn create(client: &Client, name: String) -> Option<ProgressToken> {
    let token: ProgressToken = NumberOrString::String(name);
    match client.create_work_done_progress(token.clone()).await {
        Ok(()) => Some(token),
        Err(err) => {
            log::write(
                "WARN",
                &format!("the client refused a progress token: {err}"),
            );
            None
        }
    }
}
