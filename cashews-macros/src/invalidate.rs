//! `#[cashews::invalidate(...)]`: one call of
//! `cashews::strategy::invalidate::after`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, Lit, LitStr};

use crate::args::{self, Arg};
use crate::cache::ident;
use crate::function;
use crate::template::Template;

enum Target {
    /// `"user:{user.id}:*"`
    Pattern(LitStr),
    /// `get_user(user.id, _)`: a call of a cached function, `_` for any value.
    Call(Expr),
}

const USAGE: &str = "expected a key pattern like \"user:{id}:*\", a call of a cached function \
                     like `get_user(id, _)` (`_`: any value), or an option: cache, crate";

pub(crate) fn expand(attr: TokenStream, func: ItemFn) -> syn::Result<TokenStream> {
    let mut targets = Vec::new();
    let mut cache_option = None;
    let mut krate = None;
    for arg in args::parse(attr)? {
        match arg {
            Arg::Named { name, value } => match name.to_string().as_str() {
                "cache" => args::once(&mut cache_option, &name, value)?,
                "crate" => {
                    let lit =
                        args::lit_str(&name, value, "the path of cashews, like \"my_cashews\"")?;
                    args::once(&mut krate, &name, lit)?;
                }
                other => {
                    return Err(syn::Error::new_spanned(
                        &name,
                        format!("unknown option `{other}` of #[cashews::invalidate]; {USAGE}"),
                    ));
                }
            },
            Arg::Bare(Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            })) => targets.push(Target::Pattern(s)),
            Arg::Bare(e @ (Expr::Call(_) | Expr::MethodCall(_))) => targets.push(Target::Call(e)),
            Arg::Bare(other) => return Err(syn::Error::new_spanned(other, USAGE)),
        }
    }
    if targets.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            format!("#[cashews::invalidate] needs something to delete: {USAGE}"),
        ));
    }
    let krate = function::crate_path(krate.as_ref())?;
    let params = function::params(&func);
    let ret = function::return_type(&func)?;
    let cache_expr = match &cache_option {
        Some(e) => quote!(#e),
        None => quote!(#krate::global()),
    };

    let w = ident("__cashews_pattern");
    let buf = ident("__cashews_pattern_buf");
    let mut built = Vec::new();
    for target in targets {
        built.push(match target {
            Target::Pattern(lit) => {
                let (write, capacity) = Template::parse(lit, &params)?.write(&w, "glob", &params);
                quote! {
                    ::core::result::Result::Ok(#krate::strategy::invalidate::Invalidation::new(
                        &(#cache_expr),
                        {
                            let mut #buf = #krate::__private::KeyBuf::with_capacity(#capacity);
                            let mut #w = #krate::__private::KeyWriter::pattern(&mut #buf);
                            #write
                            #buf.into_string()
                        },
                    ))
                }
            }
            Target::Call(call) => {
                let (call, wildcards) = with_wildcards(&krate, call);
                quote! {
                    #krate::strategy::invalidate::Invalidation::of_call(#call, &[#(#wildcards),*])
                }
            }
        });
    }

    let returns = ident("__cashews_returns");
    let mode = ident("__cashews_mode");
    let block = &func.block;
    let mode_statement = function::mode_statement(&quote!(#krate::__private), &mode, &returns);
    let body = quote! {
        let #returns = #krate::__private::Returns::<#ret>::new();
        #mode_statement
        #krate::strategy::invalidate::after(
            [#(#built),*],
            |result| #returns.succeeded(#mode, result),
            || #returns.call(async move #block),
        )
        .await
    };
    Ok(function::with_body(&func, body))
}

/// Replaces each `_` argument of the call by a placeholder value and
/// returns the indices of those parameters (`self` counted, as the cached
/// function's key writer counts them).
fn with_wildcards(krate: &TokenStream, mut call: Expr) -> (Expr, Vec<usize>) {
    let (args, offset) = match &mut call {
        Expr::Call(c) => (&mut c.args, 0),
        Expr::MethodCall(m) => (&mut m.args, 1),
        _ => unreachable!("only calls are targets"),
    };
    let mut wildcards = Vec::new();
    for (i, arg) in args.iter_mut().enumerate() {
        if let Expr::Infer(infer) = arg {
            let span = infer.span();
            let krate = function::respan(krate, span);
            *arg = syn::parse_quote_spanned!(span=> #krate::__private::wildcard());
            wildcards.push(i + offset);
        }
    }
    (call, wildcards)
}
