pub mod data;
pub mod run;
pub mod serve;
pub mod store;
