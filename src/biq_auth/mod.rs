//! BiQ Alert authorisation: exchange the api key for a JWT (`login`), used as a bearer token
//! by [`crate::biq_customer_shadow`] and [`crate::biq_alert_changes`].
//!
//! The seed page says `GET /api/Auth/login`; BiQ's own demo code POSTs `{"apikey": ...}`. We
//! follow the code (see `specs/README.md`).

generated_module!("biq_auth");

/// Where the three BiQ Alert services run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environment {
    Production,
    PreProduction,
    /// Base URLs of your own (a local twin, a proxy).
    Custom {
        auth: String,
        customer_shadow: String,
        alert_changes: String,
    },
}

impl Environment {
    /// Base URL of the auth service.
    pub fn auth_url(&self) -> &str {
        match self {
            Environment::Production => "https://auth-api.idq.dk",
            Environment::PreProduction => "https://preprod.search-auth.biq.dk",
            Environment::Custom { auth, .. } => auth,
        }
    }

    /// Base URL of the CustomerShadow service.
    pub fn customer_shadow_url(&self) -> &str {
        match self {
            Environment::Production => "https://alert.biq.dk",
            Environment::PreProduction => "https://preprod.alert.biq.dk",
            Environment::Custom {
                customer_shadow, ..
            } => customer_shadow,
        }
    }

    /// Base URL of the AlertChanges service.
    pub fn alert_changes_url(&self) -> &str {
        match self {
            Environment::Production => "https://alert-changes.biq.dk",
            Environment::PreProduction => "https://preprod.alert-changes.biq.dk",
            Environment::Custom { alert_changes, .. } => alert_changes,
        }
    }
}

/// A client for the auth service of `environment`, over the shared HTTP stack.
pub fn connect(environment: &Environment) -> Result<Client, reqwest::Error> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(environment.auth_url(), http))
}
