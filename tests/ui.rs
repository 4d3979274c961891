//! Compile-fail ("ui") tests of the `loss!` macro's error messages.
//!
//! Each `tests/ui/*.rs` is a minimal program with one kind of mistake in a
//! `loss!` invocation (or several, to check they are reported together);
//! its `.stderr` snapshot pins the message and where the caret points: on
//! the offending token, with a message saying what to write instead. A
//! malformed input must give an error, never a panic.
//!
//! Refresh the snapshots after changing a message with
//!
//! ```text
//! TRYBUILD=overwrite cargo test --test ui
//! ```
//!
//! then review every `.stderr` diff (`git diff tests/ui`) before committing.

#[test]
fn compile_errors() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
