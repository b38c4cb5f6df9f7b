//! Typed clients for the services that keep customer master data correct.
//!
//! Each service is a module named by its slug and compiled only with its cargo feature (the
//! slug with `-` for `_`); a vendor's feature enables all its services, and what a vendor's
//! services share lives in one vendor module ([`accountsiq`], [`biq`]):
//!
//! | module | feature | vendor |
//! |---|---|---|
//! | [`accountsiq_v1_1`], [`accountsiq_v2_0`] | `accountsiq-v1-1`, `accountsiq-v2-0` (`accountsiq`: both) | AccountsIQ web services (SOAP) |
//! | [`biq_auth`] (+ [`biq`]), [`biq_customer_shadow`], [`biq_alert_changes`] | `biq-auth`, `biq-customer-shadow`, `biq-alert-changes` (`biq`: all three) | BiQ Alert |
//! | [`blink_customer_management`] | `blink-customer-management` (`blink`) | SIX bLink Customer Management (OpenWealth 1.2.1) |
//! | [`consumer_intelligence`] | `consumer-intelligence` | Dun & Bradstreet Consumer Intelligence V3 |
//! | [`carmachain`] | `carmachain` | CarmaChain consumer-data exchange |
//!
//! The clients are generated from the specs in `specs/` (see `generated/` for the exact
//! code); [`runtime`] holds what they share.

#[macro_use]
mod generated_module;
pub mod runtime;

#[cfg(any(feature = "accountsiq-v1-1", feature = "accountsiq-v2-0"))]
pub mod accountsiq;
#[cfg(feature = "accountsiq-v1-1")]
pub mod accountsiq_v1_1;
#[cfg(feature = "accountsiq-v2-0")]
pub mod accountsiq_v2_0;
#[cfg(feature = "biq-auth")]
pub mod biq;
#[cfg(feature = "biq-alert-changes")]
pub mod biq_alert_changes;
#[cfg(feature = "biq-auth")]
pub mod biq_auth;
#[cfg(feature = "biq-customer-shadow")]
pub mod biq_customer_shadow;
#[cfg(feature = "blink-customer-management")]
pub mod blink_customer_management;
#[cfg(feature = "carmachain")]
pub mod carmachain;
#[cfg(feature = "consumer-intelligence")]
pub mod consumer_intelligence;

/// The README's examples, compiled as doctests so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
