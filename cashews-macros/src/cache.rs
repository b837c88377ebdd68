//! `#[cashews::cache(...)]`: one call of `cashews::strategy::simple::cache`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Ident, ItemFn, Lit, LitBool, LitStr};

use crate::args::{self, Arg};
use crate::companion::Companion;
use crate::function;
use crate::template::{self, Key};

const OPTIONS: &str = "ttl, key, prefix, cache, condition, time_condition, cache_errors, \
                       protected, companion, crate";

#[derive(Default)]
struct Options {
    common: args::Common,
    ttl: Option<Expr>,
    condition: Option<Expr>,
    time_condition: Option<Expr>,
    cache_errors: Option<Expr>,
    protected: Option<LitBool>,
}

fn parse(attr: TokenStream) -> syn::Result<Options> {
    let mut o = Options::default();
    for arg in args::parse(attr)? {
        let (name, value) = match arg {
            Arg::Named { name, value } => (name, value),
            Arg::Bare(e) => {
                return Err(syn::Error::new_spanned(
                    e,
                    format!("expected `option = value`; options: {OPTIONS}"),
                ));
            }
        };
        let Some((name, value)) = o.common.take(name, value)? else {
            continue;
        };
        match name.to_string().as_str() {
            "ttl" => args::once(&mut o.ttl, &name, value)?,
            "condition" => args::once(&mut o.condition, &name, value)?,
            "time_condition" => args::once(&mut o.time_condition, &name, value)?,
            "cache_errors" => args::once(&mut o.cache_errors, &name, value)?,
            "protected" => {
                let b = args::lit_bool(&name, value)?;
                args::once(&mut o.protected, &name, b)?;
            }
            other => {
                return Err(syn::Error::new_spanned(
                    &name,
                    format!("unknown option `{other}` of #[cashews::cache]; options: {OPTIONS}"),
                ));
            }
        }
    }
    Ok(o)
}

/// The TTL, as a fixed value or a function of the stored value.
enum Ttl {
    Fixed(TokenStream),
    PerValue(Expr),
}

fn ttl(krate: &TokenStream, expr: Expr) -> syn::Result<Ttl> {
    Ok(match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => {
            // Evaluated in a constant, so a malformed literal fails the
            // build, with the error pointing at it.
            let span = s.span();
            let krate = function::respan(krate, span);
            Ttl::Fixed(quote_spanned! {span=> {
                const TTL: ::core::time::Duration = #krate::__private::ttl(#s);
                TTL
            }})
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => {
            let secs: u64 = i.base10_parse()?;
            if secs == 0 {
                return Err(syn::Error::new_spanned(i, "a ttl must be longer than zero"));
            }
            Ttl::Fixed(quote!(::core::time::Duration::from_secs(#secs)))
        }
        Expr::Closure(c) => Ttl::PerValue(Expr::Closure(c)),
        other => Ttl::Fixed(quote!(#other)),
    })
}

/// `time_condition`: a literal checked at compile time like a TTL's, or
/// any `Duration` expression.
fn time_condition(krate: &TokenStream, expr: Expr) -> syn::Result<TokenStream> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => {
            let span = s.span();
            let krate = function::respan(krate, span);
            Ok(quote_spanned! {span=> {
                const TIME_CONDITION: ::core::time::Duration = #krate::__private::ttl(#s);
                TIME_CONDITION
            }})
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => {
            let secs: u64 = i.base10_parse()?;
            Ok(quote!(::core::time::Duration::from_secs(#secs)))
        }
        Expr::Closure(c) => Err(syn::Error::new_spanned(
            c,
            "`time_condition` takes a duration (\"200ms\", seconds, or a `Duration`), not a closure",
        )),
        other => Ok(quote!(#other)),
    }
}

/// `cache_errors`: which errors are stored, as a predicate over `&E`.
/// `true` stores every error; a list of patterns the errors matching one.
fn cache_errors(expr: Expr) -> syn::Result<Option<TokenStream>> {
    Ok(match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Bool(b), ..
        }) => b.value.then(|| quote!(|_| true)),
        Expr::Array(list) => {
            if list.elems.is_empty() {
                return Err(syn::Error::new_spanned(
                    list,
                    "`cache_errors` needs at least one variant, like `[MyError::NotFound]`",
                ));
            }
            let patterns = list
                .elems
                .iter()
                .map(|e| syn::parse::Parser::parse2(syn::Pat::parse_single, quote!(#e)))
                .collect::<syn::Result<Vec<_>>>()?;
            Some(quote!(
                |__cashews_error| ::core::matches!(__cashews_error, #(#patterns)|*)
            ))
        }
        Expr::Lit(other) => {
            return Err(syn::Error::new_spanned(
                other,
                "`cache_errors` takes `true`, a list of error variants, or a predicate `|e| ...`",
            ));
        }
        other => Some(quote!(#other)),
    })
}

pub(crate) fn expand(attr: TokenStream, func: ItemFn) -> syn::Result<TokenStream> {
    let options = parse(attr)?;
    let Some(ttl_expr) = options.ttl else {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[cashews::cache] needs a `ttl`, so that nothing is cached forever: \
             `ttl = \"10m\"`, `ttl = 600`, `ttl = Duration::from_secs(600)` or `ttl = |value| ...`",
        ));
    };
    let krate = function::crate_path(options.common.krate.as_ref())?;
    let ttl = ttl(&krate, ttl_expr)?;
    let errors = match options.cache_errors {
        Some(e) => {
            let span = e.span();
            cache_errors(e)?.map(|predicate| (span, predicate))
        }
        None => None,
    };
    let params = function::params(&func);
    let ret = function::return_type(&func)?;

    let w = Ident::new("__cashews_key", Span::mixed_site());
    let key = Key::new(options.common.key.as_ref(), &func, &params)?;

    let cache = ident("__cashews_cache");
    let returns = ident("__cashews_returns");
    let mode = ident("__cashews_mode");
    let cache_expr = match &options.common.cache {
        Some(e) => quote!(#e),
        None => quote!(#krate::global()),
    };
    let mut strategy_options = match ttl {
        Ttl::Fixed(t) => quote!(#krate::strategy::simple::Options::new(#t)),
        Ttl::PerValue(f) => quote! {
            #krate::strategy::simple::Options::ttl_with(#returns.ttl(#mode, #f))
        },
    };
    let ok_condition = options
        .condition
        .as_ref()
        .map(|condition| quote!(#returns.condition(#mode, #condition)));
    match (&errors, ok_condition) {
        (Some((span, errors)), ok) => {
            let ok = ok.unwrap_or_else(|| quote!(#krate::strategy::simple::Always));
            // Spanned at the option, so an error type that cannot be
            // stored (or a function without errors) is reported there.
            let condition = quote_spanned!(*span=> #returns.cache_errors(#ok, #errors));
            strategy_options.extend(quote!(.condition(#condition)));
        }
        (None, Some(ok)) => strategy_options.extend(quote!(.condition(#ok))),
        (None, None) => {}
    }
    if let Some(elapsed) = options.time_condition {
        let elapsed = time_condition(&krate, elapsed)?;
        strategy_options.extend(quote!(.time_condition(#elapsed)));
    }
    if let Some(protected) = &options.protected {
        strategy_options.extend(quote!(.protected(#protected)));
    }
    let block = &func.block;
    let prefix = options.common.prefix.as_ref().map(LitStr::value);
    let key_statements = template::key_statements(
        &quote!(#krate::__private),
        &w,
        prefix.as_deref(),
        key.write(&w, &params, None),
    );
    let mode_statement = function::mode_statement(&quote!(#krate::__private), &mode, &returns);
    // With `cache_errors` the whole `Result` is stored.
    let store_mode = match &errors {
        Some(_) => quote!(#krate::strategy::simple::StoreAll),
        None => quote!(#mode),
    };
    let body = quote! {
        let #cache: &#krate::Cache = &(#cache_expr);
        #key_statements
        let #returns = #krate::__private::Returns::<#ret>::new();
        #mode_statement
        #krate::strategy::simple::cache(
            #cache,
            #w,
            #store_mode,
            &#strategy_options,
            || #returns.call(async move #block),
        )
        .await
        .value
    };
    let companion = Companion {
        krate: &krate,
        func: &func,
        params: &params,
        cache: options.common.cache.as_ref(),
        prefix: prefix.as_deref(),
        key: &key,
        emit: options.common.companion(),
    };
    Ok(companion.function_and_companion(body))
}

/// A local of the generated code, invisible to the user's code.
pub(crate) fn ident(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}
