//! Key templates as the attribute macros parse them: any string is a
//! template (whose key statements can be generated) or a compile error.
#![no_main]
// The macro crate's modules, included whole: only the parser is used.
#![allow(dead_code, unused_imports, unreachable_pub)]

// `function.rs` names the compiler's token type in signatures never called here.
extern crate proc_macro;

#[path = "../../cashews-macros/src/function.rs"]
mod function;
#[path = "../../cashews-macros/src/template.rs"]
mod template;

use libfuzzer_sys::fuzz_target;
use proc_macro2::Span;

thread_local! {
    /// A signature with a receiver, named, tuple and pattern parameters
    /// (syn's tokens are not `Sync`).
    static SIGNATURE: syn::ItemFn = syn::parse_str(
        "fn f(&self, id: u64, user: User, pair: (u8, u8), (a, b): (u8, u8), _: u8) {}",
    )
    .expect("the signature parses");
}

fuzz_target!(|text: &str| {
    let params = SIGNATURE.with(function::params);
    let lit = syn::LitStr::new(text, Span::call_site());
    if let Ok(template) = template::Template::parse(lit, &params) {
        let w = syn::Ident::new("w", Span::call_site());
        let _ = template.write(&w, "text");
        let _ = template.write(&w, "glob");
    }
});
