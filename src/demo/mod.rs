//! `protus demo`: central, one sidecar and a small partner web app ("Messages", an SMS-campaign
//! service) in one process, with seeded data and a printed walkthrough.

pub mod seed;
pub mod pages;
pub mod partner;
pub mod run;
