//! The generated `Client::new` builds its own HTTP client. In a fresh process (this test
//! binary has no other test, so nothing installed a TLS crypto provider before) it must work
//! instead of panicking for want of a provider.
#![cfg(feature = "carmachain")]

#[test]
fn generated_client_new_works_in_a_fresh_process() {
    let client = customer_data::carmachain::Client::new(
        "https://peer.example",
        customer_data::runtime::Layer::new(&customer_data::carmachain::SERVICE_RULES),
    );
    assert_eq!(
        customer_data::carmachain::ClientInfo::baseurl(&client),
        "https://peer.example"
    );
}
