pub mod data;
pub mod run;
pub mod store;
