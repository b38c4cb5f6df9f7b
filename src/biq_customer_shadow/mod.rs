//! BiQ Alert CustomerShadow: keep a shadow copy of your customers at BiQ (list shadow sources,
//! create and update customers) so BiQ can watch public registers for changes.

generated_module!("biq_customer_shadow");

/// A client for the CustomerShadow service of `environment`, over the shared HTTP stack.
pub fn connect(environment: &crate::biq_auth::Environment) -> Result<Client, reqwest::Error> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(
        environment.customer_shadow_url(),
        http,
    ))
}
