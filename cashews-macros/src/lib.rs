//! The attribute macros of [cashews](https://docs.rs/cashews): use them as
//! `#[cashews::cache]` and `#[cashews::invalidate]`; they are documented
//! there.
//!
//! Each attribute is thin: it parses its options, checks the key template
//! against the function's parameters, and rewrites the body into one call
//! of a strategy function of `cashews` that code without macros can call
//! too. Errors point at the offending token. Set `CASHEWS_MACRO_DEBUG=1`
//! (or to a function's name) while building to print the expansions.

use proc_macro::TokenStream;

mod args;
mod cache;
mod function;
mod invalidate;
mod template;

/// Caches an async function's results. See `cashews::cache`.
#[proc_macro_attribute]
pub fn cache(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("cache", attr, item, cache::expand)
}

/// Deletes cached keys after an async function succeeds. See
/// `cashews::invalidate`.
#[proc_macro_attribute]
pub fn invalidate(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("invalidate", attr, item, invalidate::expand)
}
