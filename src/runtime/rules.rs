//! What a service declares about its operations for the [`Layer`](super::Layer): which may be
//! sent again although their method is not idempotent, which go out without credentials, and
//! which answers are final although their status is retryable.
//!
//! The generator writes these as data beside each client (`SERVICE_RULES` in every service
//! module, from the spec: `x-customer-data-retry-safe` and `security: []` on an OpenAPI
//! operation, the declared `SoapOptions` of a WSDL service; see `codegen/src/rules.rs`), and the
//! service's `connect` hands them to the layer. The runtime itself names no service.

/// The rules of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationRule {
    /// The name the layer sees: the generated method's name for OpenAPI clients
    /// (`upload_consumers`), the operation's name for SOAP clients (`GetCustomer`).
    pub id: &'static str,
    /// Why the operation may be sent again after a failure although its method is not
    /// idempotent (every SOAP call is a POST). `None`: repeated only when its method is
    /// idempotent ([`retry::is_idempotent`](super::retry::is_idempotent)).
    pub retry_safe: Option<&'static str>,
    /// Sent without credentials (the spec says `security: []`, e.g. the call that hands out
    /// tokens).
    pub anonymous: bool,
}

/// Which answers with a retryable status (e.g. 500) are final all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalAnswerRule {
    /// The status alone decides: every retryable status may be retried.
    StatusDecides,
    /// A SOAP fault is the application's answer (SOAP 1.1 sends every fault with HTTP 500):
    /// repeating the request would get the same answer. A 5xx without one (a gateway's page)
    /// is retried.
    SoapFault,
}

impl FinalAnswerRule {
    /// Whether an answer with `status` and the whole `body` is final under this rule.
    pub fn is_final(self, status: u16, body: &[u8]) -> bool {
        match self {
            FinalAnswerRule::StatusDecides => false,
            #[cfg(feature = "soap")]
            FinalAnswerRule::SoapFault => super::soap::is_fault(status, body),
            // Without the SOAP runtime no SOAP client is compiled, so no layer has this rule.
            #[cfg(not(feature = "soap"))]
            FinalAnswerRule::SoapFault => {
                let _ = (status, body);
                false
            }
        }
    }
}

/// Everything a service declares for the layer (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRules {
    /// The service's slug (traced as `service` on every call).
    pub slug: &'static str,
    /// One entry per operation, sorted by [`OperationRule::id`] (the generator sorts them), so
    /// a lookup is a binary search; an operation not listed has no rule (not retry-safe, sent
    /// with credentials).
    pub operations: &'static [OperationRule],
    /// Which answers are final although their status is retryable.
    pub final_answer: FinalAnswerRule,
}

impl ServiceRules {
    /// Rules that declare nothing: for a layer of no particular service.
    pub const NONE: ServiceRules = ServiceRules::empty("");

    /// Rules of service `slug` that declare nothing: every operation is sent with credentials,
    /// repeated only when its method is idempotent, and the status decides.
    pub const fn empty(slug: &'static str) -> Self {
        Self {
            slug,
            operations: &[],
            final_answer: FinalAnswerRule::StatusDecides,
        }
    }

    /// The rule of operation `id`, if it has one.
    pub fn operation(&self, id: &str) -> Option<&'static OperationRule> {
        let operations = self.operations;
        operations
            .binary_search_by(|rule| rule.id.cmp(id))
            .ok()
            .and_then(|at| operations.get(at))
    }

    /// Why operation `id` may be repeated although its method is not idempotent (`None`: it
    /// may not).
    pub fn retry_safe(&self, id: &str) -> Option<&'static str> {
        self.operation(id).and_then(|rule| rule.retry_safe)
    }

    /// Whether operation `id` is sent without credentials.
    pub fn is_anonymous(&self, id: &str) -> bool {
        self.operation(id).is_some_and(|rule| rule.anonymous)
    }

    /// Whether the operations are sorted by id with no id twice (what [`Self::operation`]'s
    /// binary search needs; the generator writes them so, and the tests check every service).
    pub fn is_well_formed(&self) -> bool {
        self.operations
            .windows(2)
            .all(|pair| pair[0].id < pair[1].id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: ServiceRules = ServiceRules {
        slug: "example",
        operations: &[
            OperationRule {
                id: "find",
                retry_safe: Some("a read; the POST only carries the search"),
                anonymous: false,
            },
            OperationRule {
                id: "token",
                retry_safe: None,
                anonymous: true,
            },
            OperationRule {
                id: "upload",
                retry_safe: Some("idempotent by key"),
                anonymous: false,
            },
        ],
        final_answer: FinalAnswerRule::StatusDecides,
    };

    #[test]
    fn lookups_find_listed_operations_only() {
        assert!(RULES.is_well_formed());
        assert_eq!(RULES.retry_safe("upload"), Some("idempotent by key"));
        assert_eq!(RULES.retry_safe("token"), None);
        assert_eq!(RULES.retry_safe("create"), None);
        assert!(RULES.is_anonymous("token"));
        assert!(!RULES.is_anonymous("find"));
        assert!(!RULES.is_anonymous("unknown"));
        assert_eq!(ServiceRules::NONE.operation("find"), None);
    }

    #[test]
    fn unsorted_or_repeated_operations_are_not_well_formed() {
        let rule = |id| OperationRule {
            id,
            retry_safe: None,
            anonymous: false,
        };
        static UNSORTED: [OperationRule; 2] = [
            OperationRule {
                id: "b",
                retry_safe: None,
                anonymous: false,
            },
            OperationRule {
                id: "a",
                retry_safe: None,
                anonymous: false,
            },
        ];
        let unsorted = ServiceRules {
            operations: &UNSORTED,
            ..ServiceRules::NONE
        };
        assert!(!unsorted.is_well_formed());
        let twice: &'static [OperationRule] = Box::leak(Box::new([rule("a"), rule("a")]));
        assert!(
            !ServiceRules {
                operations: twice,
                ..ServiceRules::NONE
            }
            .is_well_formed()
        );
    }

    #[test]
    fn the_status_decides_unless_the_rule_reads_soap_faults() {
        let fault = br#"<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>no</faultstring></soap:Fault></soap:Body></soap:Envelope>"#;
        assert!(!FinalAnswerRule::StatusDecides.is_final(500, fault));
        #[cfg(feature = "soap")]
        {
            assert!(FinalAnswerRule::SoapFault.is_final(500, fault));
            assert!(!FinalAnswerRule::SoapFault.is_final(502, b"<html>bad gateway</html>"));
        }
    }
}
