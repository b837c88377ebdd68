//! `#[cashews::invalidate(...)]`: one call of
//! `cashews::strategy::invalidate::after`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, Lit, LitStr};

use crate::args::{self, Arg};
use crate::cache::ident;
use crate::companion;
use crate::function;
use crate::template::Template;

enum Target {
    /// `"user:{user.id}:*"`
    Pattern(LitStr),
    /// `get_user(user.id, _)`: a call of a cached function, `_` for any
    /// value: a call of its companion.
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
                let (write, capacity) = Template::parse(lit, &params)?.write(&w, "glob");
                quote! {
                    #krate::strategy::invalidate::Invalidation::new(
                        &(#cache_expr),
                        {
                            let mut #buf = #krate::__private::KeyBuf::with_capacity(#capacity);
                            let mut #w = #krate::__private::KeyWriter::pattern(&mut #buf);
                            #write
                            #buf.into_string()
                        },
                    )
                }
            }
            Target::Call(call) => companion_call(&krate, call)?,
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

/// The call of the target's companion: `get_user(id, _)` becomes
/// `get_user_cache_key(KeyPart::Value(id), KeyPart::Wildcard(…))`, and
/// `self.page(_)` becomes `self.page_cache_key(…)`. A first argument
/// `self` of a path call (`Self::page(self, _)`) is the receiver, passed as
/// it is. A target that is not `#[cashews::cache]`d has no companion: the
/// compiler reports it at the function's name.
fn companion_call(krate: &TokenStream, mut call: Expr) -> syn::Result<TokenStream> {
    // The receiver of a path call is not an argument of the key.
    let (args, receiver) = match &mut call {
        Expr::Call(c) => {
            let Expr::Path(path) = &mut *c.func else {
                return Err(syn::Error::new_spanned(
                    &c.func,
                    "name the cached function by its path: `get_user(id, _)`, \
                     `Self::page(self, _)`, or call it as a method: `self.page(_)`",
                ));
            };
            let Some(last) = path.path.segments.last_mut() else {
                return Err(syn::Error::new_spanned(path, USAGE));
            };
            last.ident = companion::name(&last.ident);
            let receiver = c.args.first().is_some_and(is_self);
            (&mut c.args, usize::from(receiver))
        }
        Expr::MethodCall(m) => {
            m.method = companion::name(&m.method);
            (&mut m.args, 0)
        }
        other => return Err(syn::Error::new_spanned(other, USAGE)),
    };
    for arg in args.iter_mut().skip(receiver) {
        let span = arg.span();
        let krate = function::respan(krate, span);
        *arg = if let Expr::Infer(_) = arg {
            syn::parse_quote_spanned!(span=>
                #krate::KeyPart::Wildcard(#krate::__private::wildcard())
            )
        } else {
            syn::parse_quote_spanned!(span=> #krate::KeyPart::Value(#arg))
        };
    }
    Ok(quote!(#call))
}

/// Whether `expr` is `self`.
fn is_self(expr: &Expr) -> bool {
    matches!(expr, Expr::Path(p) if p.qself.is_none() && p.path.is_ident("self"))
}
