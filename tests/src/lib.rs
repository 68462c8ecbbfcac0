//! Shared harness for berth's end-to-end tests: temporary projects, running the `berth` binary,
//! and readable failure output.
