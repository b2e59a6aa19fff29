//! What a DELETE did, the same way for Graph, Resource Manager and Key Vault: removed now,
//! already gone, or accepted and running (a Resource Manager long-running delete), with the
//! service's id of the call for the history.

use std::time::Duration;

use url::Url;

use super::{ApiResponse, AzureError, Service};

/// The outcome of one DELETE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    /// It was already gone (404, or Resource Manager's 204 for a resource that did not exist).
    pub absent: bool,
    /// The service's id of the call (Graph `request-id`, ARM `x-ms-correlation-request-id`).
    pub request_id: Option<String>,
    /// A delete still running: the URL to poll and the pause the service asked for.
    pub running: Option<(Url, Option<Duration>)>,
}

/// Reads a DELETE's answer. `absent_status` is the success status that means "there was
/// nothing to delete" (Resource Manager answers 204 then; Graph answers 404).
pub fn read(
    service: Service,
    answer: Result<ApiResponse, AzureError>,
    absent_status: Option<u16>,
) -> Result<Deleted, AzureError> {
    match answer {
        Ok(response) => {
            let status = response.status.as_u16();
            let running = (status == 202)
                .then(|| {
                    response
                        .url_header("azure-asyncoperation")
                        .or_else(|| response.url_header("location"))
                        .map(|url| (url, response.retry_after()))
                })
                .flatten();
            Ok(Deleted {
                absent: Some(status) == absent_status,
                request_id: response.service_request_id(service),
                running,
            })
        }
        Err(e) if e.status() == Some(404) => Ok(Deleted {
            absent: true,
            request_id: e.service_request_id().map(str::to_owned),
            running: None,
        }),
        Err(e) => Err(e),
    }
}
