//! One module per subcommand.

pub mod audit;
pub mod check;
pub mod demo;
pub mod drill;
pub mod init;
pub mod plugin;
pub mod recover;
pub mod report;
pub mod runs;
pub mod sandbox;
pub mod schedule;
pub mod serve;
pub mod verify;
