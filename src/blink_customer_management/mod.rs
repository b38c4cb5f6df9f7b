//! SIX bLink Customer Management: customers, KYC, persons, contact details and addresses, as
//! SIX's implementation of the OpenWealth Customer Management API 1.2.1.
//!
//! Generated from the upstream OpenWealth document (kept byte for byte) plus the bLink overlay
//! `specs/blink_customer_management.overlay.yaml`, which adds the bLink headers, `/healthcheck`,
//! the OAuth2 scheme and fixes upstream defects. bLink's base URL depends on the provider and
//! your SIX onboarding, so it is a parameter. Every call takes the bLink headers
//! (`x_correlation_id`, `user_agent`, `x_cor_api_target_id`, `x_psu_ip_address`,
//! `x_psu_user_agent`); list operations page with `cursor`/`limit`, and the next cursor is the
//! `nextCursor` response header ([`next_cursor`]).

generated_module!("blink_customer_management");

/// A client for the bLink module at `base_url`, over the shared HTTP stack.
pub fn connect(base_url: &str) -> Result<Client, reqwest::Error> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(base_url, http))
}

/// The cursor of the next page, from a list response's `nextCursor` header (`None` on the
/// last page, or when the header is not valid text).
pub fn next_cursor<T>(response: &ResponseValue<T>) -> Option<String> {
    response
        .headers()
        .get("nextCursor")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}
