//! Compile-time checks of the attributes: what must compile (and run),
//! and what must not, with the messages checked in `ui/*.stderr`.
//!
//! Few files on purpose: each one is a separate compilation. Regenerate the
//! `.stderr` files with `TRYBUILD=overwrite` after a deliberate change.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass.rs");
    t.compile_fail("tests/ui/fail_attribute.rs");
    t.compile_fail("tests/ui/fail_ttl_literal.rs");
    t.compile_fail("tests/ui/fail_types.rs");
    t.compile_fail("tests/ui/fail_strategies.rs");
    t.compile_fail("tests/ui/fail_invalidate.rs");
    t.compile_fail("tests/ui/fail_trait_impl.rs");
    t.compile_fail("tests/ui/fail_conditions.rs");
}
