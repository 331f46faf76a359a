//! The firedrill crate's integration tests, one binary (one link instead of four).

mod cli;
mod databases;
mod evidence;
mod kube_exec;
