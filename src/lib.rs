//! Typed clients for the services that keep customer master data correct.
//!
//! Each service is a module named by its slug and compiled only with its cargo feature:
//!
//! | module | feature | vendor |
//! |---|---|---|
//! | [`accountsiq_v1_1`], [`accountsiq_v2_0`] | `accountsiq` | AccountsIQ web services (SOAP) |
//! | [`biq_auth`], [`biq_customer_shadow`], [`biq_alert_changes`] | `biq` | BiQ Alert |
//! | [`blink_customer_management`] | `blink` | SIX bLink Customer Management (OpenWealth 1.2.1) |
//! | [`consumer_intelligence`] | `consumer-intelligence` | Dun & Bradstreet Consumer Intelligence V3 |
//! | [`carmachain`] | `carmachain` | CarmaChain consumer-data exchange |
//!
//! The clients are generated from the specs in `specs/` (see `generated/` for the exact
//! code); [`runtime`] holds what they share.

#[macro_use]
mod generated_module;
pub mod runtime;

#[cfg(feature = "accountsiq")]
pub mod accountsiq_v1_1;
#[cfg(feature = "accountsiq")]
pub mod accountsiq_v2_0;
#[cfg(feature = "biq")]
pub mod biq_alert_changes;
#[cfg(feature = "biq")]
pub mod biq_auth;
#[cfg(feature = "biq")]
pub mod biq_customer_shadow;
#[cfg(feature = "blink")]
pub mod blink_customer_management;
#[cfg(feature = "carmachain")]
pub mod carmachain;
#[cfg(feature = "consumer-intelligence")]
pub mod consumer_intelligence;

/// The README's examples, compiled as doctests so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
