pub mod api;
pub mod data;
pub mod redteam;
pub mod remote;
pub mod run;
pub mod serve;
pub mod stats;
pub mod store;
