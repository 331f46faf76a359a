//! One module per subcommand.

pub mod check;
pub mod init;
pub mod sandbox;
pub mod schedule;
