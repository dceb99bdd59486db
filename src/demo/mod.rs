//! `protus demo`: central, one sidecar and a small partner web app ("Messages", an SMS-campaign
//! service) in one process, with seeded data and a printed walkthrough; `protus demo partner`
//! runs the partner alone against a central and a sidecar elsewhere.

pub mod seed;
pub mod pages;
pub mod partner;
pub mod run;
pub mod standalone;
