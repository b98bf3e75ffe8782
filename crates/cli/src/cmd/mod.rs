pub mod data;
pub mod store;
