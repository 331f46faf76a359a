//! Entry point of the `firedrill` binary.
fn main() {}
