//! paypki: the certificate authority and PKI service of an online-payment network.
//!
//! Layers, after Let's Encrypt's Boulder (see docs/architecture.md):
//! [`cli`] and `http` (front ends) → [`ra`] (policy, authorization) → [`ca`] (signing, the
//! only holder of CA keys) → [`store`] (sled, the only code that knows the schema).
#![forbid(unsafe_code)]

pub mod ca;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crl;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod inspect;
pub mod model;
pub mod names;
pub mod ocsp;
pub mod ra;
pub mod report;
pub mod shangmi;
pub mod signature;
pub mod store;
pub mod transparency;
pub mod tsp;
pub mod verify;
pub mod wire;
