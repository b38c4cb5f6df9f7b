//! Secrets in the specs and in the generated code: every member whose name looks secret is
//! declared (or allow-listed with a reason), so a vendor spec update that adds one is caught;
//! and every generated type holding a declared secret prints it as `<redacted>`.

use std::collections::BTreeSet;

use customer_data_codegen::secrets::{self, RedactedType};
use customer_data_codegen::services::FrontEnd;
use customer_data_codegen::{SERVICES, default_root, export};

/// What a secret-looking name contains (compared in lower case).
const LOOKS_SECRET: [&str; 6] = [
    "password",
    "secret",
    "token",
    "apikey",
    "api_key",
    "partnerkey",
];

/// Names that look secret but are not, each with its reason: (slug, name, reason).
const NOT_SECRET: &[(&str, &str, &str)] = &[
    (
        "consumer_intelligence",
        "nextPageToken",
        "a paging cursor handed back to the same API, no credential",
    ),
    (
        "consumer_intelligence",
        "pageToken",
        "the query parameter that sends nextPageToken back",
    ),
    // AccountsIQ: operation wrapper elements and result envelopes named after the operations
    // TokenGet, TokenRefresh and GetEntitiesByToken; the secret members inside them
    // (clientSecret, refreshToken, AccessToken, RefreshToken, token) are declared.
    ("accountsiq_v2_0", "TokenGet", "operation request element"),
    (
        "accountsiq_v2_0",
        "TokenGetResponse",
        "operation response element",
    ),
    (
        "accountsiq_v2_0",
        "TokenGetResult",
        "result envelope (WSResult3)",
    ),
    (
        "accountsiq_v2_0",
        "TokenRefresh",
        "operation request element",
    ),
    (
        "accountsiq_v2_0",
        "TokenRefreshResponse",
        "operation response element",
    ),
    (
        "accountsiq_v2_0",
        "TokenRefreshResult",
        "result envelope (WSResult3)",
    ),
    (
        "accountsiq_v2_0",
        "GetEntitiesByToken",
        "operation request element",
    ),
    (
        "accountsiq_v2_0",
        "GetEntitiesByTokenResponse",
        "operation response element",
    ),
    (
        "accountsiq_v2_0",
        "GetEntitiesByTokenResult",
        "result envelope: a list of entities",
    ),
];

fn looks_secret(name: &str) -> bool {
    let lower = name.to_lowercase();
    LOOKS_SECRET.iter().any(|word| lower.contains(word))
}

fn allowed(slug: &str, name: &str) -> bool {
    NOT_SECRET.iter().any(|(s, n, _)| *s == slug && *n == name)
}

/// Element names of a WSDL (`<s:element ... name="..."`), read as text.
fn wsdl_element_names(text: &str) -> BTreeSet<String> {
    text.split("<s:element ")
        .skip(1)
        .filter_map(|rest| {
            let tag = rest.split('>').next()?;
            let at = tag.find("name=\"")? + "name=\"".len();
            Some(tag[at..].split('"').next()?.to_string())
        })
        .collect()
}

#[test]
fn every_member_whose_name_looks_secret_is_declared_secret() {
    let root = default_root();
    let mut undeclared = Vec::new();
    let mut checked = 0;
    for service in SERVICES {
        match service.front_end {
            FrontEnd::OpenApi => {
                // After the overlay: what the generator reads.
                let (loaded, _) = export::patched(&root, service).unwrap();
                customer_data_codegen::error::for_each_object(&loaded.document, &mut |at, map| {
                    if let Some(properties) = map.get("properties").and_then(|p| p.as_object()) {
                        for (name, schema) in properties {
                            if looks_secret(name) {
                                checked += 1;
                                if !secrets::is_secret(schema) && !allowed(service.slug, name) {
                                    undeclared.push(format!(
                                        "{}#{at}/properties/{name}: declare it \
                                         `format: password` or `x-secret: true`",
                                        service.spec
                                    ));
                                }
                            }
                        }
                    }
                    // Parameters cannot be declared (the operation builders print them).
                    if let (Some(name), Some(_)) = (
                        map.get("name").and_then(|n| n.as_str()),
                        map.get("in").and_then(|n| n.as_str()),
                    ) && looks_secret(name)
                    {
                        checked += 1;
                        if !allowed(service.slug, name) {
                            undeclared.push(format!(
                                "{}#{at}: parameter `{name}` looks secret, and the \
                                 generator cannot redact a parameter",
                                service.spec
                            ));
                        }
                    }
                });
            }
            FrontEnd::Wsdl(options) => {
                let text = std::fs::read_to_string(root.join(service.spec)).unwrap();
                for name in wsdl_element_names(&text) {
                    if looks_secret(&name) {
                        checked += 1;
                        if !options.secret_elements.contains(&name.as_str())
                            && !allowed(service.slug, &name)
                        {
                            undeclared.push(format!(
                                "{}: element `{name}`: add it to the service's \
                                 secret_elements (codegen/src/services.rs)",
                                service.spec
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(undeclared.is_empty(), "{}", undeclared.join("\n"));
    // The scan found the members it is about (a broken walk would pass vacuously).
    assert!(checked >= 15, "only {checked} secret-looking names found");
}

#[test]
fn the_scan_catches_an_undeclared_member() {
    assert!(looks_secret("clientSecret") && looks_secret("APIKEY") && looks_secret("userPassword"));
    assert!(!looks_secret("customerId"));
    assert_eq!(
        wsdl_element_names(
            r#"<s:element minOccurs="0" name="partnerKey" type="s:string" /><s:element name="Login">"#
        ),
        BTreeSet::from(["partnerKey".to_string(), "Login".to_string()])
    );
    assert!(!allowed("carmachain", "token"));
}

/// Every generated type (OpenAPI, typify's builders, SOAP) holding a declared secret.
fn redacted_types(service: &customer_data_codegen::Service) -> Vec<RedactedType> {
    let root = default_root();
    let code = std::fs::read_to_string(root.join(service.generated_path())).unwrap();
    let result = match service.front_end {
        FrontEnd::OpenApi => {
            let (loaded, _) = export::patched(&root, service).unwrap();
            let declared = secrets::secret_members(&loaded.document);
            secrets::audit(&code, &|name, wire| {
                declared
                    .get(name)
                    .is_some_and(|members| members.contains(wire))
            })
        }
        FrontEnd::Wsdl(options) => {
            secrets::audit(&code, &|_, wire| options.secret_elements.contains(&wire))
        }
    };
    result.unwrap_or_else(|problems| panic!("{}: {}", service.slug, problems.join("\n")))
}

#[test]
fn every_generated_type_with_a_secret_member_redacts_it() {
    let mut total = 0;
    for service in SERVICES {
        let types = redacted_types(service);
        println!("figure redacted_types_{} {}", service.slug, types.len());
        total += types.len();
        if matches!(
            service.slug,
            "biq_auth" | "carmachain" | "consumer_intelligence"
        ) {
            assert!(!types.is_empty(), "{}: no redacted type", service.slug);
        }
        // The SOAP request elements that carry only the session `token` are many: counted.
        for t in types.iter().filter(|t| t.members != ["token"]) {
            println!("{}: {} {:?}", service.slug, t.path, t.members);
        }
    }
    println!("figure redacted_types_total {total}");
}

#[test]
fn the_audit_refuses_a_derived_debug_on_a_secret_member() {
    let code = r#"
        pub mod types {
            #[derive(Clone, Debug)]
            pub struct TokenResponse { pub token: String }
        }
    "#;
    let problems = secrets::audit(code, &|name, wire| {
        name == "TokenResponse" && wire == "token"
    })
    .unwrap_err();
    assert_eq!(
        problems,
        ["types::TokenResponse derives Debug, so it prints [\"token\"]"]
    );
}
