//! icp-audit: audits websites filed for China ICP (ICP备案) the way a hosting provider's
//! inspection (备案核查) does, and reports the rectification notices (整改通知) that apply.
//!
//! The pipeline: [`inventory`] rows become [`inventory::FilingRecord`]s; [`record`] checks the
//! record alone; [`resolve`], [`fetch`] and [`page`] gather evidence from the network; [`rules`]
//! turn evidence into [`finding::Finding`]s keyed to the [`catalogue`]; [`report`] writes them.

pub mod address;
pub mod audit;
pub mod batch;
pub mod catalogue;
pub mod charset;
pub mod cloud;
pub mod codes;
pub mod date;
pub mod domain;
pub mod fetch;
pub mod filing_number;
pub mod finding;
pub mod history;
pub mod html;
pub mod inventory;
pub mod page;
pub mod politeness;
pub mod record;
pub mod registry;
pub mod report;
pub mod resolve;
pub mod rules;
pub mod suppress;
pub mod tls;
