//! Sessions and tokens over SOAP: a token flow's view of a failed call, and the replay once
//! after the service says the token is no longer good.

use super::SoapError;

/// A token flow's view of a failed SOAP call: a SOAP `Client` fault or a failed result is a
/// rejection of the credentials, anything else is the service's trouble.
pub fn auth_error(error: SoapError, operation: &str) -> crate::runtime::auth::AuthError {
    use crate::runtime::auth::AuthError;
    match error {
        SoapError::Fault(fault) if is_client_fault(&fault.code) => AuthError::Rejected {
            status: None,
            detail: format!("{operation}: {}", fault.string),
        },
        SoapError::Failed(failure) => AuthError::Rejected {
            status: None,
            detail: format!("{operation}: {}", failure.error_code),
        },
        SoapError::Auth(e) => e,
        transport @ SoapError::Transport { .. } => {
            AuthError::Transport(format!("{operation}: {transport}"))
        }
        other => AuthError::Transport(format!("{operation}: {other}")),
    }
}

/// Whether a fault code blames the request: SOAP 1.1 `Client` (with any prefix, and with
/// dotted refinements such as `soap:Client.Authentication`) or SOAP 1.2 `Sender`.
fn is_client_fault(code: &str) -> bool {
    let local = code.rsplit_once(':').map_or(code, |(_, local)| local);
    matches!(local.split('.').next(), Some("Client" | "Sender"))
}

/// Runs `call` with a token of `cache`; when the answer says the token is no longer good
/// (`renew` says so, e.g. `HasExpired`), forgets it, gets a new one and replays once. The
/// SOAP counterpart of the 401 replay in [`crate::runtime::layer`].
pub async fn with_token<S, T>(
    cache: &crate::runtime::auth::TokenCache<S>,
    renew: impl Fn(&SoapError) -> bool,
    mut call: impl AsyncFnMut(&str) -> Result<T, SoapError>,
) -> Result<T, SoapError>
where
    S: crate::runtime::auth::TokenSource,
{
    use crate::runtime::auth::ExposeSecret;
    let token = cache.token().await.map_err(SoapError::Auth)?;
    match call(token.value.expose_secret()).await {
        Err(error) if renew(&error) => {
            tracing::debug!(error = %error, "token refused: renewing it and replaying once");
            cache.invalidate(&token);
            let token = cache.token().await.map_err(SoapError::Auth)?;
            call(token.value.expose_secret()).await
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_faults_are_told_by_the_local_part_of_the_code() {
        for code in [
            "soap:Client",
            "Client",
            "SOAP-ENV:Client",
            "s:Client.Authentication",
            "env:Sender",
        ] {
            assert!(is_client_fault(code), "{code}");
        }
        for code in [
            "soap:Server",
            "",
            "soap:ClientX",
            "MyClient",
            "env:Receiver",
        ] {
            assert!(!is_client_fault(code), "{code}");
        }
    }
}
